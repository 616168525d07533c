"""`classify`: a file classified offline, verdict JSONL on stdout like the stream's verdicts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from consumer.commands import Handler

__all__ = ["HANDLERS", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    classify = sub.add_parser(
        "classify",
        help="classify a file offline: verdict JSONL on stdout, like the stream's verdicts",
        description="Rows: JSONL objects with text (and optional id), a CSV/TSV with a text "
        "column, or plain text lines; - reads JSONL from stdin. Rows that cannot be classified "
        "are reported on stderr with the stage and reason the stream would give.",
    )
    classify.add_argument("file", nargs="?", help="input file, or - for JSONL on stdin")
    classify.add_argument(
        "--model", help="model folder (default: MODEL_PATH, else the shipped model)"
    )
    classify.add_argument("--strict", action="store_true", help="exit 1 when any row failed")


def _cmd_classify(args: argparse.Namespace) -> int:
    from consumer.config.settings import load_settings
    from consumer.model.artifact import load_model
    from consumer.tools.classify import classify_file

    settings = load_settings()
    classifier = load_model(
        Path(args.model) if args.model else settings.model_path,
        signing_key=settings.model_signing_key,
        threads=settings.model_threads,
    )
    if not args.file:
        raise SystemExit("classify: give a FILE (JSONL, CSV or text lines) or - for JSONL on stdin")
    written, failed = classify_file(
        args.file,
        classifier,
        max_text_chars=settings.max_text_chars,
        max_value_bytes=settings.max_value_bytes,
        out=sys.stdout.buffer,
        errors=sys.stderr,
    )
    if failed:
        print(
            f"classify: {written} verdicts, {failed} rows could not be classified", file=sys.stderr
        )
    return 1 if failed and args.strict else 0


HANDLERS: dict[str, Handler] = {
    "classify": _cmd_classify,
}
