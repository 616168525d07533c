"""The stream benchmark: the model alone, a passthrough, our worker with 1 and N processes, and
a per-message consumer, side by side in one invocation on the embedded broker; then our worker
at half of its maximum rate for latency percentiles and memory over time.

    .venv/bin/python -m bench.stream [--messages 50000] [--partitions 4] [--soak-seconds 600]

Every scenario reads the same texts (real labelled texts from ../shared/data through the
package's dataset loaders, or generated ones where that is absent, said so in the output).
Each stream scenario gets a fresh broker (so that none inherits the batches of the ones
before it: the embedded broker's costs grow with the batches it holds), the input written in
full *before* its processes start, so that producing the input does not compete with them
for the CPU. A scenario is measured from its first output to its last by the outputs' own
timestamps (CreateTime, set when each was produced; the embedded broker's group join is
slow), counting the outputs produced in that span (not the first batch's, which open it),
with the CPU seconds its processes spent in that span and their peak RSS; its notes give
each process's main thread's share of the span on a core and waiting for one, and its other
threads' (librdkafka's) share on a core. The model
alone runs `predict_proba` on the same texts in batches of BATCH_MAX_MESSAGES in a process
of its own; "model alone, broker busy" runs it again while a passthrough paced at that
round's 1-worker rate moves records through the broker: whether the broker's and the
clients' work at a worker's rate slows the model down on a machine whose cores they share.

The latency phase runs one worker with the default settings while the input arrives at half
of the 1-process rate, for `--soak-seconds`: end-to-end latency is each verdict's timestamp
minus the time its input was produced (carried in the input's id), and the worker's RSS is
sampled every 10 s (RSS flat over a 10-minute run is a target). The passthrough then runs the
same way (same rate, same time, the worker's client settings), which gives the latency the
broker itself adds. Each of the two gets a fresh broker, and the outputs are read after the
input stops, so that reading them does not load the broker during the measurement (the
embedded broker's fetches cost more the more batches a partition holds). Prints markdown
tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import orjson

from bench._inputs import encode_inputs, load_texts
from bench._measure import OtherLoad
from bench._report import report
from bench._soak import Soak, soak
from bench._throughput import Result, median_of, model_alone, model_alone_busy, run_stream
from consumer.devkit.broker import EmbeddedBroker
from consumer.devkit.harness import RUN

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    parser.add_argument(
        "--window-seconds", type=float, default=60.0, help="latency percentiles per window"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="rounds of the throughput scenarios; each scenario's median round is reported",
    )
    parser.add_argument(
        "--soak-rate",
        type=float,
        help="input rate of the latency phase (default: half the 1-process rate)",
    )
    parser.add_argument(
        "--soak-linger-ms",
        type=int,
        default=5,
        help="linger.ms of the latency phase's producer: a longer one writes fewer, larger "
        "batches, which the embedded broker sustains for longer (its fetches list every batch "
        "a partition holds); the latency then includes up to this much producer wait",
    )
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every worker process (to compare settings)",
    )
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--log-dir", help="keep the processes' logs here (default: discarded)")
    parser.add_argument(
        "--only",
        help="comma-separated scenarios: "
        "model,passthrough,worker1,modelbusy,workerN,permessage,soak,soakfloor "
        "(modelbusy: the model alone with a passthrough at that round's worker1 rate)",
    )
    args = parser.parse_args()

    from consumer.config.settings import Settings

    defaults = Settings()
    batch, wait_ms = defaults.batch_max_messages, defaults.batch_max_wait_ms
    texts, origin = load_texts(args.messages, args.seed)
    records = encode_inputs(texts)
    cores = os.cpu_count() or 2
    only = set(args.only.split(",")) if args.only else None
    latency = floor = Soak(0, 0)
    with tempfile.TemporaryDirectory() as tmp:
        # Every measured process's settings (`worker_environment` adds the broker's).
        settings = {"METRICS_PORT": "0", "LOG_LEVEL": "INFO", "MODEL_RELOAD_INTERVAL_S": "0"}
        settings.update(item.split("=", 1) for item in args.worker_env)
        run = RUN
        baseline = ("-m", "bench.baselines")
        scenarios = [
            (
                "passthrough",
                "passthrough (consume, produce, commit; no model)",
                (*baseline, "passthrough"),
                1,
                records,
            ),
            ("worker1", "worker, 1 process", run, 1, records),
            (
                "workerN",
                f"worker, {cores} processes",
                (*run, "--processes", str(cores)),
                cores,
                records,
            ),
            (
                "permessage",
                "per-message consumer (poll one, predict one, produce, commit)",
                (*baseline, "per-message"),
                1,
                records[: max(1000, len(records) // 20)],
            ),
        ]
        logs = Path(args.log_dir) if args.log_dir else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        # Rounds: every scenario once per round, so that a noisy stretch of the machine
        # touches the model alone and the worker alike; each scenario's median counts.
        rounds: dict[str, list[Result]] = {}
        for round_number in range(args.repeat):
            if only is None or "model" in only:
                rounds.setdefault("model", []).append(model_alone(texts, batch))
                print(rounds["model"][-1], file=sys.stderr, flush=True)
            for key, name, command, processes, sample in scenarios:
                if only is not None and key not in only:
                    continue
                log_path = logs / f"{key}-{round_number}.log"
                # A fresh broker for every run: the embedded broker's costs grow with the
                # batches it holds, which would count against whichever scenario runs later.
                with EmbeddedBroker(log_path=Path(tmp) / f"broker-{key}.log") as broker:
                    rounds.setdefault(key, []).append(
                        run_stream(
                            name,
                            command,
                            processes,
                            settings,
                            broker.bootstrap_servers,
                            sample,
                            args.partitions,
                            log_path,
                            OtherLoad(broker.pid or 0),
                        )
                    )
                print(rounds[key][-1], file=sys.stderr, flush=True)
                if key == "worker1" and (only is None or "modelbusy" in only):
                    with EmbeddedBroker(log_path=Path(tmp) / "broker-modelbusy.log") as broker:
                        rounds.setdefault("modelbusy", []).append(
                            model_alone_busy(
                                texts,
                                batch,
                                rounds[key][-1].rate,
                                settings,
                                broker.bootstrap_servers,
                                records,
                                args.partitions,
                                logs / f"modelbusy-{round_number}.log",
                            )
                        )
                    print(rounds["modelbusy"][-1], file=sys.stderr, flush=True)
        results: list[Result] = [median_of(runs) for runs in rounds.values()]
        one = next((r.rate for r in results if r.scenario == "worker, 1 process"), 0)
        rate = args.soak_rate if args.soak_rate else one / 2
        soaks = [
            ("soak", run, "soak.log"),
            ("soakfloor", (*baseline, "passthrough"), "soak-passthrough.log"),
        ]
        measured: dict[str, Soak] = {}
        for key, command, log_name in soaks:
            if only is not None and key not in only:
                continue
            # A fresh broker each: the embedded broker slows down as its log grows.
            with EmbeddedBroker(log_path=Path(tmp) / f"broker-{key}.log") as fresh:
                measured[key] = soak(
                    command,
                    settings,
                    fresh.bootstrap_servers,
                    texts,
                    args.partitions,
                    rate,
                    args.soak_seconds,
                    logs / log_name,
                    OtherLoad(fresh.pid or 0),
                    args.window_seconds,
                    args.soak_linger_ms,
                )
            print(key, measured[key], file=sys.stderr, flush=True)
        latency = measured.get("soak", latency)
        floor = measured.get("soakfloor", floor)
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps(
                {
                    "results": [asdict(r) for r in results],
                    "latency": asdict(latency),
                    "passthrough_latency": asdict(floor),
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    if only is None:
        print(report(results, rounds, latency, floor, batch, wait_ms, args, origin))


if __name__ == "__main__":
    main()
