"""`python -m consumer.devkit.chaos`: chaos runs from the command line: one (`--seed 7`), or one
per seed of a range (`--seeds 1-10`) with a summary table at the end (`make chaos`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from consumer.devkit.chaos.accounting import ChaosReport
from consumer.devkit.chaos.run import ChaosConfig, run_chaos
from consumer.devkit.chaos.schedule import KINDS
from consumer.devkit.harness import RUN

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m consumer.devkit.chaos",
        description="A consumer group of workers under a seeded schedule of faults.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--seed", type=int)
    which.add_argument("--seeds", type=_seed_range, help="one run per seed: 1-10")
    parser.add_argument("--strategy", default="cooperative-sticky", help="assignment strategy")
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--rate", type=float, default=1_500.0, help="records a second")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2, help="steady members")
    parser.add_argument("--hostile-share", type=float, default=0.005)
    parser.add_argument("--gap", type=float, nargs=2, default=(4.0, 8.0), metavar=("MIN", "MAX"))
    parser.add_argument("--kinds", default=",".join(KINDS), help="kinds a schedule draws from")
    parser.add_argument("--faults", default="", help="exactly these kinds, in order: kill,term")
    parser.add_argument("--join-hold-s", type=float, default=4.0)
    parser.add_argument("--stall-bound-s", type=float, default=45.0)
    parser.add_argument("--drain-timeout-s", type=float, default=240.0)
    parser.add_argument("--hold-stuck-s", type=float, default=0.0)
    parser.add_argument("--debug", default="", help="librdkafka debug contexts: cgrp,protocol")
    parser.add_argument("--broker-log", default="", help="RUST_LOG for the embedded broker")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--kafka", action="append", default=[], metavar="PROPERTY=VALUE")
    parser.add_argument("--set", action="append", default=[], metavar="VARIABLE=VALUE")
    parser.add_argument(
        "--member-argv", default="", help="start members with these interpreter arguments"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: build/chaos/<run>; with --seeds, <out>/<run>",
    )
    return parser


def _seed_range(text: str) -> range:
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range of seeds like 1-10") from None
    if high < low:
        raise argparse.ArgumentTypeError(f"{text!r} ends before it starts")
    return range(low, high + 1)


def _pairs(items: Sequence[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.broker_log:
        os.environ["RUST_LOG"] = args.broker_log  # the embedded broker inherits it
    seeds = args.seeds if args.seeds is not None else [args.seed]
    reports = [_run(args, seed) for seed in seeds]
    if args.seeds is not None:
        sys.stdout.write(summary(reports))
    return 0 if all(report.passed for report in reports) else 1


def _run(args: argparse.Namespace, seed: int) -> ChaosReport:
    sequence = tuple(k for k in args.faults.split(",") if k) or None
    name = f"{args.strategy}-seed{seed}" + (f"-{'-'.join(sequence)}" if sequence else "")
    out = args.out or Path("build/chaos")
    if args.out is None or args.seeds is not None:
        out = out / name  # one folder per run
    config = ChaosConfig(
        seed=seed,
        out_dir=out,
        strategy=args.strategy,
        records=args.records,
        rate=args.rate,
        partitions=args.partitions,
        workers=args.workers,
        hostile_share=args.hostile_share,
        gap_s=(args.gap[0], args.gap[1]),
        kinds=tuple(k for k in args.kinds.split(",") if k),
        sequence=sequence,
        join_hold_s=args.join_hold_s,
        stall_bound_s=args.stall_bound_s,
        drain_timeout_s=args.drain_timeout_s,
        hold_stuck_s=args.hold_stuck_s,
        debug=args.debug,
        model=args.model,
        kafka=_pairs(args.kafka),
        settings=_pairs(args.set),
        member_argv=tuple(args.member_argv.split()) or RUN,
    )
    report = run_chaos(config, os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None)
    sys.stdout.write("CHAOS " + orjson.dumps(report.to_dict()).decode() + "\n")
    sys.stdout.flush()
    return report


def summary(reports: Sequence[ChaosReport]) -> str:
    """A Markdown table of the runs: one row per seed, and the duplicates per kind of fault."""
    lines = [
        "| seed | faults | inputs | hostile dead-lettered | unprocessed | misrouted "
        "| duplicates | longest stall (s) | slowest progress after a fault (s) | passed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    per_kind: dict[str, list[int]] = {}
    for r in reports:
        progress = [f["progress_s"] for f in r.faults if f["progress_s"] is not None]
        for fault in r.faults:
            per_kind.setdefault(fault["kind"], []).append(int(fault["duplicates"]))
        lines.append(
            f"| {r.seed} | {','.join(f['kind'] for f in r.faults)} | {r.inputs} "
            f"| {r.dead_letters}/{r.hostile} | {r.unprocessed} | {r.misrouted} "
            f"| {r.duplicates} | {r.longest_stall_s:.1f} "
            f"| {max(progress, default=0.0):.1f} | {'yes' if r.passed else 'NO'} |"
        )
    lines.append("")
    lines.append("| fault | count | duplicates: mean | max |")
    lines.append("|---|---|---|---|")
    for kind, dups in sorted(per_kind.items()):
        lines.append(f"| {kind} | {len(dups)} | {sum(dups) / len(dups):.0f} | {max(dups)} |")
    passed = sum(r.passed for r in reports)
    lines.append(f"\n{passed} of {len(reports)} runs passed\n")
    return "\n".join(lines)
