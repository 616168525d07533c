"""The cost of the quality features: one worker's throughput alone, with a shadow model, with
policies per source, and beside a feedback consumer with decisions flowing, in one
invocation; and the shadow's coverage (the share of the texts offered to it that it scored)
under a backlog and under steady load.

    python -m bench.quality --messages 60000 --repeat 3 --part cost
    python -m bench.quality --messages 60000 --repeat 3 --part coverage

Each scenario is one worker process serving the default model on a fresh embedded broker,
the same seeded texts for all; the rounds interleave the scenarios, and each scenario's ratio
to the baseline is the median of the rounds' own ratios (these machines are noisy).

The cost (`--part cost`), the input written in full before the worker starts, throughput
from its first verdict to its last:

- `baseline`: the worker alone (score histogram and drift window included: they are always
  on);
- `shadow-sklearn`: SHADOW_MODEL_PATH at a copy of the default model, its verdicts produced to
  SHADOW_OUTPUT_TOPIC (a shadow as costly as the primary);
- `shadow-cascade`: the cascade as the shadow (the transformer extra), metrics only;
- `policies`: POLICY_FILE with a `[default]` policy, so every record is decided again;
- `feedback`: the worker, and beside it `content-classifier feedback` indexing every verdict
  and matching decisions on 5 % of them (written to the feedback topic up front).

The coverage (`--part coverage`), with the `shadow-sklearn` shadow, read from the worker's
/metrics (`content_classifier_shadow_texts_total`) once the primary has every verdict out
and the shadow a result for every batch offered to it:

- `backlog N, queue Q`: N records written before the worker starts, SHADOW_QUEUE_BATCHES=Q;
- `steady R/s`: records produced at R a second (below the worker's capacity) for
  `--steady-seconds`, without a shadow (the baseline of the CPU and latency columns) and
  with one (default queue).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import Producer

from bench._inputs import encode_inputs, load_texts, produce_all, topics_for
from bench._measure import OtherLoad, cpu_seconds, machine_cpu_seconds, process_tree
from bench._report import machine
from bench._throughput import STOP_TIMEOUT_S, Result, launch, median_of, run_stream
from consumer.config.paths import default_model_path, shipped_models_dir
from consumer.devkit.broker import EmbeddedBroker, create_topics
from consumer.devkit.harness import RUN, WorkerProcess, worker_environment

__all__ = ["main"]

POLICIES = "[default]\nreview_threshold = 0.15\nblock_threshold = 0.8\n"
FEEDBACK_SHARE = 20  # one input in this many gets a decision
SHADOW_RESULTS = ("scored", "busy", "slow", "failed")
#: How long the primary and then the shadow may take to finish a coverage run.
FINISH_TIMEOUT_S = 300.0


def scenarios(tmp: Path) -> dict[str, dict[str, str]]:
    shadow = tmp / "shadow-model"
    if not shadow.exists():
        shutil.copytree(default_model_path(), shadow)
    policies = tmp / "policies.toml"
    policies.write_text(POLICIES)
    found = {
        "baseline": {},
        "shadow-sklearn": {
            "SHADOW_MODEL_PATH": str(shadow),
            "SHADOW_OUTPUT_TOPIC": "__shadow__",
        },
        "policies": {"POLICY_FILE": str(policies)},
        "feedback": {},
    }
    cascade = shipped_models_dir() / "malicious-content-cascade"
    if (cascade / "manifest.json").is_file():
        found["shadow-cascade"] = {"SHADOW_MODEL_PATH": str(cascade)}
    return found


def feedback_companion(
    bootstrap: str, records: list[tuple[bytes, bytes]], log: Path, started: list[WorkerProcess]
) -> Callable[[Mapping[str, str]], None]:
    """Before the worker starts: a feedback topic with decisions on every FEEDBACK_SHARE-th
    input, and the feedback consumer on the worker's verdict topic."""

    def start(names: Mapping[str, str]) -> None:
        topic = f"feedback-{uuid.uuid4().hex[:8]}"
        create_topics(bootstrap, [(topic, 2)])
        decisions = [
            (key, orjson.dumps({"id": orjson.loads(value)["id"], "label": "benign"}))
            for key, value in records[::FEEDBACK_SHARE]
        ]
        produce_all(bootstrap, topic, decisions)
        env = worker_environment(bootstrap, {**names, "FEEDBACK_TOPIC": topic, "METRICS_PORT": "0"})
        started.append(WorkerProcess(env, log, ("-m", "consumer", "feedback")).start())

    return start


def worker_settings(extra: Mapping[str, str]) -> dict[str, str]:
    return {"METRICS_PORT": "0", "LOG_LEVEL": "INFO", "MODEL_RELOAD_INTERVAL_S": "0", **extra}


def with_shadow_topic(settings: dict[str, str], bootstrap: str, partitions: int) -> None:
    """A fresh topic for the shadow's verdicts, where the scenario produces them."""
    if "SHADOW_OUTPUT_TOPIC" in settings:
        topic = f"shadow-{uuid.uuid4().hex[:8]}"
        create_topics(bootstrap, [(topic, partitions)])
        settings["SHADOW_OUTPUT_TOPIC"] = topic


def cost_rounds(
    args: argparse.Namespace, records: list[tuple[bytes, bytes]], tmp: Path
) -> tuple[dict[str, list[Result]], dict[str, list[str]]]:
    rounds: dict[str, list[Result]] = {}
    notes: dict[str, list[str]] = {}
    plans = {
        name: extra
        for name, extra in scenarios(tmp).items()
        if name == "baseline" or not args.only or name in args.only
    }
    for round_number in range(args.repeat):
        for name, extra in plans.items():
            settings = worker_settings(extra)
            companions: list[WorkerProcess] = []
            with EmbeddedBroker(log_path=tmp / f"broker-{name}.log") as broker:
                bootstrap = broker.bootstrap_servers
                with_shadow_topic(settings, bootstrap, args.partitions)
                before = None
                if name == "feedback":
                    before = feedback_companion(
                        bootstrap, records, tmp / f"feedback-{round_number}.log", companions
                    )
                try:
                    result = run_stream(
                        f"{name}: worker, 1 process",
                        RUN,
                        1,
                        settings,
                        bootstrap,
                        records,
                        args.partitions,
                        tmp / f"{name}-{round_number}.log",
                        OtherLoad(broker.pid or 0),
                        before,
                    )
                finally:
                    for companion in companions:
                        if companion.logged_http_port() is not None:
                            counted = metric_sum(companion, "content_classifier_feedback_total")
                            notes.setdefault(name, []).append(f"{counted:.0f} decisions counted")
                        companion.stop(10)
            rounds.setdefault(name, []).append(result)
            print(result, file=sys.stderr, flush=True)
    return rounds, notes


# -- coverage ------------------------------------------------------------------------------


@dataclass
class Coverage:
    scenario: str
    #: Texts the primary classified: each was offered to the shadow.
    texts: int = 0
    #: The shadow's texts by result (`content_classifier_shadow_texts_total`).
    results: dict[str, float] = field(default_factory=dict)
    #: Seconds from the primary's last verdict until the shadow had a result for every text.
    shadow_after_s: float = 0.0
    #: CPU seconds from the partitions' assignment until both were done: the worker's own
    #: process (primary and shadow thread), and with the shadow's child process.
    worker_cpu_s: float = 0.0
    tree_cpu_s: float = 0.0
    #: CPU seconds the rest of the machine spent meanwhile (broker, producer, other users).
    other_cpu_s: float = 0.0
    #: Under steady input, the primary's mean end-to-end latency (its histogram's sum over
    #: its count; under a backlog it is the backlog's age).
    latency_ms: float | None = None

    @property
    def scored(self) -> float:
        offered = sum(self.results.values())
        return self.results.get("scored", 0.0) / offered if offered else float("nan")


def metric_sum(worker: WorkerProcess, name: str, label: str = "") -> float:
    """The sum of a metric's samples on the worker's /metrics (those with `label` in their
    labels, when given)."""
    _, body = worker.probe("/metrics")
    pattern = rf"^{re.escape(name)}(?:{{([^}}]*)}})? (\S+)$"
    return sum(
        float(value)
        for labels, value in re.findall(pattern, body.decode(), flags=re.MULTILINE)
        if label in labels
    )


def wait_for(done: Callable[[], bool], what: str, log: Path) -> float:
    """Poll `done` every 50 ms; the time it became true."""
    deadline = time.monotonic() + FINISH_TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {FINISH_TIMEOUT_S:.0f} s: see {log}")
        time.sleep(0.05)
    return time.monotonic()


def produce_paced(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], count: int, rate: float
) -> None:
    """`count` records (cycling through `records`) at `rate` a second, as a steady upstream."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    )
    started, sent = time.monotonic(), 0
    while sent < count:
        due = min(count, int((time.monotonic() - started) * rate))
        while sent < due:
            key, value = records[sent % len(records)]
            try:
                producer.produce(topic, key=key, value=value)
            except BufferError:
                producer.poll(0.01)
                continue
            sent += 1
        producer.poll(0)
        time.sleep(0.002)
    if producer.flush(60):
        raise RuntimeError("the paced input was not acknowledged")


def coverage_run(
    scenario: str,
    settings: dict[str, str],
    bootstrap: str,
    records: list[tuple[bytes, bytes]],
    partitions: int,
    log: Path,
    rate: float | None = None,
    seconds: float = 0.0,
) -> Coverage:
    """One worker on a backlog of `records` (`rate` None) or on input at `rate` for
    `seconds`; its shadow's results once the primary and the shadow are done."""
    names = topics_for(bootstrap, partitions)
    count = len(records) if rate is None else int(rate * seconds)
    if rate is None:
        produce_all(bootstrap, names["INPUT_TOPIC"], records)
    with_shadow_topic(settings, bootstrap, partitions)
    shadowed = "SHADOW_MODEL_PATH" in settings
    worker = launch(RUN, settings, bootstrap, names, log)
    result = Coverage(scenario, count)
    try:
        worker.wait_for_log("partitions assigned", timeout_s=120)
        pids = process_tree(worker.pid)
        cpu = (cpu_seconds(pids[:1]), cpu_seconds(pids), machine_cpu_seconds())
        if rate is not None:
            produce_paced(bootstrap, names["INPUT_TOPIC"], records, count, rate)
        total = "content_classifier_verdicts_total"
        primary = wait_for(lambda: metric_sum(worker, total) >= count, "no verdicts", log)
        offered = "content_classifier_shadow_texts_total"
        if shadowed:
            finished = wait_for(lambda: metric_sum(worker, offered) >= count, "no shadow", log)
            result.shadow_after_s = round(finished - primary, 2)
            for outcome in SHADOW_RESULTS:
                result.results[outcome] = metric_sum(worker, offered, f'result="{outcome}"')
        pids = process_tree(worker.pid)
        result.worker_cpu_s = round(cpu_seconds(pids[:1]) - cpu[0], 2)
        result.tree_cpu_s = round(cpu_seconds(pids) - cpu[1], 2)
        result.other_cpu_s = round(machine_cpu_seconds() - cpu[2] - result.tree_cpu_s, 2)
        if rate is not None:
            latency = "content_classifier_end_to_end_latency_seconds"
            observed = metric_sum(worker, latency + "_count")
            result.latency_ms = round(1000 * metric_sum(worker, latency + "_sum") / observed, 1)
    finally:
        worker.stop(STOP_TIMEOUT_S)
    return result


def coverage_plans(
    args: argparse.Namespace, tmp: Path
) -> list[tuple[str, dict[str, str], int | None]]:
    """(scenario, settings, backlog: None for the steady input) of each coverage run."""
    shadow = scenarios(tmp)["shadow-sklearn"]
    plans: list[tuple[str, dict[str, str], int | None]] = [
        (f"backlog {n:,}, queue {q}", {**shadow, "SHADOW_QUEUE_BATCHES": str(q)}, n)
        for n in args.backlogs
        for q in args.queues
    ]
    steady = f"steady {args.steady_rate:,.0f}/s"
    return [*plans, (f"{steady}, no shadow", {}, None), (f"{steady}, queue 4", shadow, None)]


def coverage_rounds(
    args: argparse.Namespace, records: list[tuple[bytes, bytes]], tmp: Path
) -> dict[str, list[Coverage]]:
    rounds: dict[str, list[Coverage]] = {}
    for round_number in range(args.repeat):
        for number, (name, extra, backlog) in enumerate(coverage_plans(args, tmp)):
            with EmbeddedBroker(log_path=tmp / "broker-coverage.log") as broker:
                result = coverage_run(
                    name,
                    worker_settings(extra),
                    broker.bootstrap_servers,
                    records if backlog is None else records[:backlog],
                    args.partitions,
                    tmp / f"coverage-{round_number}-{number}.log",
                    args.steady_rate if backlog is None else None,
                    args.steady_seconds,
                )
            rounds.setdefault(name, []).append(result)
            print(result, file=sys.stderr, flush=True)
    return rounds


def _median(runs: list[Coverage], value: Callable[[Coverage], float]) -> float:
    return statistics.median(value(run) for run in runs)


def coverage_report(rounds: dict[str, list[Coverage]]) -> list[str]:
    """One row a scenario, each column the median of its rounds."""
    lines = [
        "| scenario | texts | scored by the shadow (rounds) | dropped busy / slow / failed | "
        "shadow done after the primary | worker CPU s per 1,000 texts: own / with the "
        "shadow's process | primary's mean latency | other users' CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in rounds.items():
        shadow = " | | "
        if runs[0].results:
            shares = ", ".join(f"{r.scored:.3f}" for r in runs)
            dropped = " / ".join(
                f"{statistics.median(r.results.get(k, 0.0) for r in runs):,.0f}"
                for k in SHADOW_RESULTS[1:]
            )
            after = _median(runs, lambda r: r.shadow_after_s)
            scored = _median(runs, lambda r: r.scored)
            shadow = f"{scored:.3f} ({shares}) | {dropped} | {after:.2f} s"
        latency = ""
        if runs[0].latency_ms is not None:
            latency = f"{_median(runs, lambda r: r.latency_ms or 0.0):.0f} ms"
        per_k = 1000 / runs[0].texts
        own, tree = _median(runs, lambda r: r.worker_cpu_s), _median(runs, lambda r: r.tree_cpu_s)
        lines.append(
            f"| {name} | {runs[0].texts:,} | {shadow} | {own * per_k:.3f} / {tree * per_k:.3f} | "
            f"{latency} | {_median(runs, lambda r: r.other_cpu_s):.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--part", choices=("cost", "coverage", "all"), default="all")
    parser.add_argument(
        "--only", type=lambda text: text.split(","), default=[], help="cost scenarios to run"
    )
    parser.add_argument(
        "--backlogs",
        type=_counts,
        default=[2_000, 60_000],
        help="backlogs, comma-separated (empty: the steady runs only)",
    )
    parser.add_argument(
        "--queues", type=_counts, default=[1, 4], help="SHADOW_QUEUE_BATCHES values for backlogs"
    )
    parser.add_argument("--steady-rate", type=float, default=4_000.0)
    parser.add_argument("--steady-seconds", type=float, default=20.0)
    args = parser.parse_args()

    texts, origin = load_texts(max([args.messages, *args.backlogs]), args.seed)
    records = encode_inputs(texts)
    lines = [
        f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; texts: {origin}; "
        f"{args.repeat} rounds, medians.",
    ]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.part in ("cost", "all"):
            rounds, notes = cost_rounds(args, records[: args.messages], tmp)
            lines += ["", f"{args.messages} messages.", "", *report(rounds, notes)]
        if args.part in ("coverage", "all"):
            lines += ["", *coverage_report(coverage_rounds(args, records, tmp))]
    print("\n".join(lines))


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def report(rounds: dict[str, list[Result]], notes: dict[str, list[str]]) -> list[str]:
    lines = [
        "| scenario | worker (texts/s) | / baseline (median of rounds) | worker RSS | notes |",
        "|---|---|---|---|---|",
    ]
    baseline = rounds["baseline"]
    for name, runs in rounds.items():
        median = median_of(runs)
        ratios = sorted(r.rate / b.rate for r, b in zip(runs, baseline, strict=True) if b.rate)
        ratio = ratios[(len(ratios) - 1) // 2] if ratios else float("nan")
        extra = "; ".join([*median.notes, *notes.get(name, [])[-1:]])
        lines.append(
            f"| {name} | {median.rate:,.0f} | {ratio:.3f} "
            f"({', '.join(f'{r:.3f}' for r in ratios)}) | {median.peak_rss_mb:.0f} MB | {extra} |"
        )
    return lines


if __name__ == "__main__":
    main()
