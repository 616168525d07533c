"""The model families side by side: each model alone, then one worker serving it, in one run.

    .venv/bin/python -m bench.families \\
        --model sklearn=models/malicious-content:50000 \\
        --model transformer=models/malicious-content-transformer:3000 \\
        --model cascade=models/malicious-content-cascade:10000 [--repeat 3]

Each `--model NAME=FOLDER:MESSAGES` is measured on the first MESSAGES of the same seeded texts
(real rows of ../shared/data): a count per model, so that each run lasts tens of seconds
whatever the model's speed. In every round, for each model: `predict_proba` alone in a
process of its own at BATCH_MAX_MESSAGES texts a batch (texts/s, p50 and p99 time of a batch,
peak RSS), then one worker process serving it on a fresh embedded broker (texts/s from its
first verdict to its last, peak RSS). The worker-to-model ratio is taken round by round (the
two ran within a minute of each other) and its median reported. Prints a markdown table;
`--json` keeps every figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench._inputs import encode_inputs, load_texts
from bench._measure import OtherLoad
from bench._report import machine
from bench._throughput import Result, median_of, model_alone, run_stream
from consumer.devkit.broker import EmbeddedBroker
from consumer.devkit.harness import RUN

__all__ = ["main"]


def _parse(spec: str) -> tuple[str, str, int]:
    name, rest = spec.split("=", 1)
    folder, _, count = rest.rpartition(":")
    if not folder:
        folder, count = rest, "20000"
    return name, folder, int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=FOLDER:MESSAGES")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every worker process",
    )
    parser.add_argument("--json", help="write every round's figures here too")
    args = parser.parse_args()

    from consumer.config.settings import Settings

    batch = Settings().batch_max_messages
    models = [_parse(spec) for spec in args.model]
    texts, origin = load_texts(max(count for _, _, count in models), args.seed)
    rounds: dict[str, dict[str, list[Result]]] = {name: {} for name, _, _ in models}
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(args.repeat):
            for name, folder, count in models:
                sample = texts[:count]
                alone = model_alone(sample, batch, f"{name}: model alone", model_path=folder)
                rounds[name].setdefault("model", []).append(alone)
                print(alone, file=sys.stderr, flush=True)
                settings = {
                    "METRICS_PORT": "0",
                    "LOG_LEVEL": "INFO",
                    "MODEL_RELOAD_INTERVAL_S": "0",
                    "MODEL_PATH": str(Path(folder).resolve()),
                }
                settings.update(item.split("=", 1) for item in args.worker_env)
                with EmbeddedBroker(log_path=Path(tmp) / f"broker-{name}.log") as broker:
                    worker = run_stream(
                        f"{name}: worker, 1 process",
                        RUN,
                        1,
                        settings,
                        broker.bootstrap_servers,
                        encode_inputs(sample),
                        args.partitions,
                        Path(tmp) / f"{name}-{round_number}.log",
                        OtherLoad(broker.pid or 0),
                    )
                rounds[name].setdefault("worker", []).append(worker)
                print(worker, file=sys.stderr, flush=True)
    print(report(rounds, models, origin, args))
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps(
                {n: {k: [asdict(r) for r in v] for k, v in r.items()} for n, r in rounds.items()},
                option=orjson.OPT_INDENT_2,
            )
        )


def report(
    rounds: dict[str, dict[str, list[Result]]],
    models: list[tuple[str, str, int]],
    origin: str,
    args: argparse.Namespace,
) -> str:
    lines = [
        f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d}; texts: {origin}; "
        f"{args.repeat} rounds, medians.",
        "",
        "| model | texts | model alone (texts/s) | p50 / p99 batch | model RSS | "
        "worker, 1 process (texts/s) | worker RSS | worker / model (median of rounds) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, folder, count in models:
        alone, worker = median_of(rounds[name]["model"]), median_of(rounds[name]["worker"])
        ratios = [
            w.rate / m.rate
            for m, w in zip(rounds[name]["model"], rounds[name]["worker"], strict=True)
            if m.rate
        ]
        batch_note = next((n for n in alone.notes if n.startswith("batch of")), "")
        lines.append(
            f"| {name} (`{folder}`) | {count:,} | {alone.rate:,.0f} | "
            f"{batch_note.split(': ', 1)[-1]} | {alone.peak_rss_mb:.0f} MB | "
            f"{worker.rate:,.0f} | {worker.peak_rss_mb:.0f} MB | "
            f"{statistics.median(ratios):.3f} ({', '.join(f'{r:.3f}' for r in ratios)}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
