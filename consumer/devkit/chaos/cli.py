"""`python -m consumer.devkit.chaos`: one chaos run from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from consumer.devkit.chaos.run import ChaosConfig, run_chaos
from consumer.devkit.chaos.schedule import KINDS
from consumer.devkit.harness import RUN

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m consumer.devkit.chaos",
        description="A consumer group of workers under a seeded schedule of faults.",
    )
    parser.add_argument("--seed", type=int, required=True)
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
    parser.add_argument("--stall-bound-s", type=float, default=30.0)
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
    parser.add_argument("--out", type=Path, default=None, help="default: build/chaos/<run>")
    return parser


def _pairs(items: Sequence[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sequence = tuple(k for k in args.faults.split(",") if k) or None
    name = f"{args.strategy}-seed{args.seed}" + (f"-{'-'.join(sequence)}" if sequence else "")
    config = ChaosConfig(
        seed=args.seed,
        out_dir=args.out or Path("build/chaos") / name,
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
    if args.broker_log:
        os.environ["RUST_LOG"] = args.broker_log  # the embedded broker inherits it
    report = run_chaos(config, os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None)
    sys.stdout.write("CHAOS " + orjson.dumps(report.to_dict()).decode() + "\n")
    return 0 if report.passed else 1
