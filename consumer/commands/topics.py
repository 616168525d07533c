"""`produce` and `replay-dlq`: operator tools that write records to the input topic."""

from __future__ import annotations

import argparse
from pathlib import Path

from consumer.commands import Handler, tally

__all__ = ["HANDLERS", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    produce = sub.add_parser(
        "produce", help="send a JSONL or CSV file of content to the input topic"
    )
    produce.add_argument("file")
    produce.add_argument("--topic", help="topic (default: INPUT_TOPIC)")
    produce.add_argument("--limit", type=int, help="send at most this many records")
    produce.add_argument("--quiet", action="store_true", help="no progress bar")

    replay = sub.add_parser(
        "replay-dlq", help="re-publish dead letters to the input topic (after fixing the cause)"
    )
    replay.add_argument(
        "--stage",
        action="append",
        choices=["decode", "validate", "classify", "produce"],
        help="only dead letters of this stage (repeatable)",
    )
    replay.add_argument("--limit", type=int, help="replay at most this many")
    replay.add_argument(
        "--dry-run", action="store_true", help="count, send nothing, commit nothing"
    )
    replay.add_argument(
        "--idle-s", type=float, default=5.0, help="stop when no dead letter came for this long"
    )


def _cmd_produce(args: argparse.Namespace) -> int:
    from consumer.config.settings import load_settings
    from consumer.tools.produce import produce_file

    settings = load_settings()
    topic = args.topic or settings.input_topic
    sent = produce_file(Path(args.file), settings, topic, limit=args.limit, progress=not args.quiet)
    print(f"sent {sent} records to {topic} on {settings.kafka_bootstrap_servers}")
    return 0


def _cmd_replay_dlq(args: argparse.Namespace) -> int:
    from consumer.config.settings import load_settings
    from consumer.tools.replay import replay_dead_letters

    settings = load_settings()
    result = replay_dead_letters(
        settings,
        stages=set(args.stage) if args.stage else None,
        limit=args.limit,
        dry_run=args.dry_run,
        idle_s=args.idle_s,
    )
    verb = "would replay" if args.dry_run else "replayed"
    stages = tally(result.by_stage)
    skipped = tally(result.skipped)
    print(
        f"read {result.read} dead letters from {settings.dlq_topic}; {verb} {result.replayed} "
        f"to {settings.input_topic} (by stage: {stages}; skipped: {skipped})"
    )
    return 0


HANDLERS: dict[str, Handler] = {
    "produce": _cmd_produce,
    "replay-dlq": _cmd_replay_dlq,
}
