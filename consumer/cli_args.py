"""The command line's arguments: one subparser per command, no behaviour.

Kept apart from `consumer.cli` (the handlers and the dispatch) so each stays short. Nothing
here imports a subpackage: `--help` and a bad argument load no model, client or training code.
"""

from __future__ import annotations

import argparse

from consumer import __version__

__all__ = ["build_parser"]


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options; `cli.main` dispatches on `command`."""
    parser = argparse.ArgumentParser(
        prog="content-classifier",
        description="Classify content from a Kafka topic with a scikit-learn model.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run a worker of the consumer group (settings from the environment)"
    )
    run.add_argument(
        "--processes",
        type=_non_negative,
        default=1,
        metavar="N",
        help="run N worker processes of the group on this machine (0: one per core); "
        "a fixed METRICS_PORT becomes METRICS_PORT+i for the i-th",
    )

    train = sub.add_parser("train", help="train a model folder")
    train.add_argument("--data", help="CSV or JSONL file with text and label columns")
    train.add_argument(
        "--recipe",
        choices=["default", "routing", "transformer", "cascade"],
        help="a shipped model's recipe over ../shared/data: default (malicious-content), "
        "routing (banking intents) or transformer (a fine-tuned encoder on default's rows; "
        "needs the train extra) or cascade (--fast and --transformer folders as stages)",
    )
    train.add_argument(
        "--data-root", help="folder of the training sources (default: ../shared/data)"
    )
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--name", default="custom", help="model name (with --data)")
    train.add_argument("--version", default="0.1.0", help="model version")
    train.add_argument("--seed", type=int, default=20261125)
    train.add_argument(
        "--rows", type=int, help="transformer: training rows drawn (default: the recipe's)"
    )
    train.add_argument(
        "--held-out-fold",
        type=int,
        choices=[1, 2],
        help="transformer: leave out that half of the held-out groups (for `evaluate`)",
    )
    train.add_argument("--fast", help="cascade: the fast stage's model folder")
    train.add_argument("--transformer", help="cascade: the transformer stage's model folder")
    train.add_argument(
        "--routed-share",
        type=float,
        default=0.2,
        help="cascade: the share of validation rows the uncertain band sends to the transformer",
    )
    train.add_argument(
        "--threads", type=int, default=0, help="transformer: torch threads (0: all cores)"
    )
    train.add_argument(
        "--max-seconds", type=float, help="transformer: stop fine-tuning after this long"
    )

    evaluate = sub.add_parser(
        "evaluate",
        help="write an evaluation report (markdown and plots) into a model folder",
    )
    evaluate.add_argument("--model", required=True, help="model folder made by a recipe")
    evaluate.add_argument(
        "--data-root", help="folder of the training sources (default: ../shared/data)"
    )
    evaluate.add_argument("--seed", type=int, default=20261125)
    evaluate.add_argument(
        "--fold-models",
        nargs=2,
        metavar="DIR",
        help="transformer or cascade: the two fold models of `train --recipe transformer "
        "--held-out-fold 1|2`, which score the held-out groups",
    )
    evaluate.add_argument(
        "--compare-cascades",
        nargs="*",
        default=[],
        metavar="DIR",
        help="cascade: other cascades over the same stages (other bands), measured alongside",
    )
    evaluate.add_argument(
        "--scores-cache",
        help="cascade or transformer: keep the held-out scores here and reuse them when the "
        "fold models, seed and recipe are the same (the refits take most of the time)",
    )

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

    sub.add_parser(
        "serve",
        help="the model over HTTP: POST /v1/classify, /v1/explain, probes, metrics, and a page "
        "for analysts at / (settings SERVE_*)",
    )

    sign = sub.add_parser(
        "sign-model",
        help="sign a model folder's manifest (manifest.json.sig) with MODEL_SIGNING_KEY",
    )
    sign.add_argument("model", help="model folder")

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

    demo = sub.add_parser("demo", help="the whole job on the embedded broker, with a summary")
    demo.add_argument("--messages", type=int, default=50_000)
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--seed", type=int, default=7)

    broker = sub.add_parser("broker", help="start the embedded broker and print its address")
    broker.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    broker.add_argument(
        "--create-topics", action="store_true", help="create the input, output and DLQ topics"
    )
    broker.add_argument("--partitions", type=int, default=4)

    schemas = sub.add_parser("schemas", help="write the JSON Schema files of the contracts")
    schemas.add_argument(
        "--out", help="folder (default: the checkout's schemas/, else ./schemas when installed)"
    )
    return parser
