"""The cost of the quality features: one worker's throughput alone, with a shadow model, with
policies per source, and beside a feedback consumer with decisions flowing, in one
invocation.

    python -m bench.quality --messages 60000 --repeat 3

Each scenario is one worker process serving the default model on a fresh embedded broker,
the same seeded texts for all; the rounds interleave the scenarios, and each scenario's ratio
to the baseline is the median of the rounds' own ratios (these machines are noisy):

- `baseline`: the worker alone (score histogram and drift window included: they are always
  on);
- `shadow-sklearn`: SHADOW_MODEL_PATH at a copy of the default model, its verdicts produced to
  SHADOW_OUTPUT_TOPIC (a shadow as costly as the primary);
- `shadow-cascade`: the cascade as the shadow (the transformer extra), metrics only;
- `policies`: POLICY_FILE with a `[default]` policy, so every record is decided again;
- `feedback`: the worker, and beside it `content-classifier feedback` indexing every verdict
  and matching decisions on 5 % of them (written to the feedback topic up front).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench._inputs import encode_inputs, load_texts, produce_all
from bench._measure import OtherLoad
from bench._report import machine
from bench._throughput import Result, median_of, run_stream
from consumer.config.paths import default_model_path, shipped_models_dir
from consumer.devkit.broker import EmbeddedBroker, create_topics
from consumer.devkit.harness import RUN, WorkerProcess, worker_environment

__all__ = ["main"]

POLICIES = "[default]\nreview_threshold = 0.15\nblock_threshold = 0.8\n"
FEEDBACK_SHARE = 20  # one input in this many gets a decision


def scenarios(tmp: Path) -> dict[str, dict[str, str]]:
    shadow = tmp / "shadow-model"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    texts, origin = load_texts(args.messages, args.seed)
    records = encode_inputs(texts)
    rounds: dict[str, list[Result]] = {}
    notes: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        plans = scenarios(tmp)
        for round_number in range(args.repeat):
            for name, extra in plans.items():
                settings = {
                    "METRICS_PORT": "0",
                    "LOG_LEVEL": "INFO",
                    "MODEL_RELOAD_INTERVAL_S": "0",
                    **extra,
                }
                companions: list[WorkerProcess] = []
                with EmbeddedBroker(log_path=tmp / f"broker-{name}.log") as broker:
                    bootstrap = broker.bootstrap_servers
                    if "SHADOW_OUTPUT_TOPIC" in settings:
                        topic = f"shadow-{uuid.uuid4().hex[:8]}"
                        create_topics(bootstrap, [(topic, args.partitions)])
                        settings["SHADOW_OUTPUT_TOPIC"] = topic
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
                            port = companion.logged_http_port()
                            if port is not None:
                                metrics = companion.probe("/metrics")[1].decode()
                                counted = sum(
                                    float(line.rsplit(" ", 1)[1])
                                    for line in metrics.splitlines()
                                    if line.startswith("content_classifier_feedback_total{")
                                )
                                notes.setdefault(name, []).append(
                                    f"{counted:.0f} decisions counted"
                                )
                            companion.stop(10)
                rounds.setdefault(name, []).append(result)
                print(result, file=sys.stderr, flush=True)
    print(report(rounds, notes, origin, args))


def report(
    rounds: dict[str, list[Result]],
    notes: dict[str, list[str]],
    origin: str,
    args: argparse.Namespace,
) -> str:
    lines = [
        f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; texts: {origin}; "
        f"{args.messages} messages, {args.repeat} rounds, medians.",
        "",
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
    return "\n".join(lines)


if __name__ == "__main__":
    main()
