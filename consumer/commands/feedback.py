"""`feedback` and `export-feedback`: moderators' decisions counted live, or exported for
training."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from consumer.commands import Handler, tally

__all__ = ["HANDLERS", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser(
        "feedback",
        help="match moderators' decisions (FEEDBACK_TOPIC) to verdicts and count them "
        "(a consumer group of its own; metrics on METRICS_PORT)",
    )
    export = sub.add_parser(
        "export-feedback",
        help="moderators' decisions as labelled JSONL for train --data, texts read from the "
        "input topic",
    )
    export.add_argument("--out", required=True, help="the JSONL file to write")
    export.add_argument(
        "--since", help="only feedback from this time on (RFC 3339, e.g. 2026-12-01T00:00:00Z)"
    )
    export.add_argument(
        "--timeout-s", type=float, default=60.0, help="give up reading a topic after this long"
    )


def _cmd_feedback(args: argparse.Namespace) -> int:
    from consumer.config.logs import configure_logging
    from consumer.config.settings import load_settings
    from consumer.stream.health import Health, HealthServer
    from consumer.tools.feedback import FeedbackMetrics, run_feedback

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    metrics, health = FeedbackMetrics(), Health()
    server = HealthServer(health, metrics, settings.metrics_port).start()
    try:
        joiner = run_feedback(settings, stop, metrics, health)
    finally:
        server.stop()
    rejected = tally(joiner.rejected)
    print(f"feedback: {joiner.counted} decisions counted (rejected: {rejected})")
    return 0


def _cmd_export_feedback(args: argparse.Namespace) -> int:
    from datetime import datetime

    from consumer.config.settings import load_settings
    from consumer.tools.export_feedback import export_feedback

    settings = load_settings()
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise ValueError(f"--since {args.since!r} is not an RFC 3339 time") from None
    result = export_feedback(settings, Path(args.out), since=since, timeout_s=args.timeout_s)
    labels = tally(result.labels)
    skipped = tally(result.skipped)
    print(
        f"export-feedback: {result.read} feedback records read, {result.written} rows written "
        f"to {args.out} (labels: {labels}; skipped: {skipped})"
    )
    return 0


HANDLERS: dict[str, Handler] = {
    "feedback": _cmd_feedback,
    "export-feedback": _cmd_export_feedback,
}
