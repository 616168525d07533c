"""`content-classifier`: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import cast

import orjson

from consumer import __version__

__all__ = ["main"]

EXIT_CONFIG = 2
EXIT_SHUTDOWN_TIMEOUT = 3


def _cmd_run(args: argparse.Namespace) -> int:
    from consumer.config.logs import configure_logging, get_logger
    from consumer.config.settings import load_settings
    from consumer.model.artifact import load_model
    from consumer.stream.clients import build_consumer, build_producer
    from consumer.stream.collector import settle_collector
    from consumer.stream.health import Health, HealthServer
    from consumer.stream.metrics import Metrics
    from consumer.stream.reload import ModelWatcher
    from consumer.stream.supervisor import process_count, run_processes
    from consumer.stream.worker import ConsumerLike, ProducerLike, Worker

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    processes = process_count(args.processes)
    if processes > 1:
        return run_processes(processes, settings)
    log = get_logger("consumer.run")
    log.info("starting", version=__version__, settings=settings.loggable())
    classifier = load_model(settings.model_path, signing_key=settings.model_signing_key)
    log.info("model loaded", model=classifier.name, model_version=classifier.version)
    # Build the clients once up front so a bad KAFKA_ property fails start-up, not the loop.
    build_producer(settings)
    metrics, health = Metrics(), Health()
    server = HealthServer(health, metrics, settings.metrics_port).start()
    watcher = None
    if settings.model_reload_interval_s > 0:
        watcher = ModelWatcher(
            settings.model_path,
            classifier,
            settings.model_reload_interval_s,
            metrics,
            signing_key=settings.model_signing_key,
        ).start()
    worker = Worker(
        settings,
        classifier,
        # confluent-kafka's clients satisfy the loop's Protocols; its stubs' overloads do not
        # spell them the same way, hence the casts.
        consumer_factory=lambda **cb: cast(ConsumerLike, build_consumer(settings, **cb)),
        producer_factory=lambda **cb: cast(ProducerLike, build_producer(settings, **cb)),
        metrics=metrics,
        health=health,
        new_models=watcher.take if watcher else None,
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if worker.stopping:
            return
        log.info("stopping", signal=signal.Signals(signum).name)
        worker.stop()
        # The loop finishes its batch and commits; if it cannot within the timeout (a broker
        # that does not answer), exit anyway: uncommitted work is redone by the next owner.
        timer = threading.Timer(settings.shutdown_timeout_s, _exit_after_timeout)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    settle_collector(settings.batch_max_messages)
    try:
        worker.run()
    finally:
        server.stop()
        if watcher:
            watcher.stop()
    return 0


def _exit_after_timeout() -> None:
    sys.stderr.write("shutdown did not finish within SHUTDOWN_TIMEOUT_S; exiting\n")
    sys.stderr.flush()
    os._exit(EXIT_SHUTDOWN_TIMEOUT)


def _data_root(args: argparse.Namespace) -> Path:
    from consumer.training.datasets import default_data_root

    return Path(args.data_root) if args.data_root else default_data_root()


def _cmd_train(args: argparse.Namespace) -> int:
    from consumer.training.recipes import train_default, train_file, train_routing

    started = time.monotonic()
    if args.recipe == "default":
        folder = train_default(
            _data_root(args), Path(args.out), version=args.version, seed=args.seed
        )
    elif args.recipe == "routing":
        folder = train_routing(
            _data_root(args), Path(args.out), version=args.version, seed=args.seed
        )
    else:
        if not args.data:
            raise SystemExit(
                "train: give --data FILE (CSV or JSONL of text,label) or --recipe default|routing"
            )
        folder = train_file(
            Path(args.data), Path(args.out), name=args.name, version=args.version, seed=args.seed
        )
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    print(f"wrote {folder} in {time.monotonic() - started:.0f} s")
    print(orjson.dumps(manifest.get("metrics", {}), option=orjson.OPT_INDENT_2).decode())
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from consumer.training.evaluation import evaluate_model

    started = time.monotonic()
    report = evaluate_model(Path(args.model), _data_root(args), seed=args.seed)
    print(f"wrote {report} in {time.monotonic() - started:.0f} s")
    return 0


def _cmd_classify(args: argparse.Namespace) -> int:
    from consumer.config.settings import load_settings
    from consumer.model.artifact import load_model
    from consumer.tools.classify import classify_file

    settings = load_settings()
    classifier = load_model(
        Path(args.model) if args.model else settings.model_path,
        signing_key=settings.model_signing_key,
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


def _cmd_sign_model(args: argparse.Namespace) -> int:
    from consumer.config.settings import load_settings
    from consumer.model.artifact import load_model, sign_manifest

    key = load_settings().model_signing_key
    if key is None:
        raise SystemExit(
            "sign-model: set MODEL_SIGNING_KEY (or MODEL_SIGNING_KEY_FILE) to the signing key"
        )
    folder = Path(args.model)
    # Sign only what verifies: sha256 and scikit-learn version are checked first.
    load_model(folder)
    signature = sign_manifest(folder, key)
    load_model(folder, signing_key=key)
    print(f"wrote {signature}")
    return 0


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
    stages = ", ".join(f"{stage}={n}" for stage, n in sorted(result.by_stage.items())) or "none"
    skipped = ", ".join(f"{why}={n}" for why, n in sorted(result.skipped.items())) or "none"
    print(
        f"read {result.read} dead letters from {settings.dlq_topic}; {verb} {result.replayed} "
        f"to {settings.input_topic} (by stage: {stages}; skipped: {skipped})"
    )
    return 0


def _cmd_broker(args: argparse.Namespace) -> int:
    from consumer.devkit.broker import EmbeddedBroker, create_topics

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with EmbeddedBroker(port=args.port) as broker:
        if args.create_topics:
            from consumer.config.settings import load_settings

            settings = load_settings(kafka_bootstrap_servers=broker.bootstrap_servers)
            create_topics(
                broker.bootstrap_servers,
                [
                    (settings.input_topic, args.partitions),
                    (settings.output_topic, args.partitions),
                    (settings.dlq_topic, 1),
                ],
            )
        print(broker.bootstrap_servers, flush=True)
        print(
            f"embedded broker on {broker.bootstrap_servers}; "
            f"export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers} "
            "KAFKA_SESSION_TIMEOUT_MS=6000; "
            "Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from consumer.devkit.demo import run_demo

    return run_demo(messages=args.messages, workers=args.workers, seed=args.seed)


def _cmd_schemas(args: argparse.Namespace) -> int:
    from consumer.contracts.schemas import write_schemas

    for path in write_schemas(Path(args.out)) if args.out else write_schemas():
        print(path)
    return 0


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def _parser() -> argparse.ArgumentParser:
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
    run.set_defaults(func=_cmd_run)

    train = sub.add_parser("train", help="train a model folder")
    train.add_argument("--data", help="CSV or JSONL file with text and label columns")
    train.add_argument(
        "--recipe",
        choices=["default", "routing"],
        help="a shipped model's recipe over ../shared/data: default (malicious-content) or "
        "routing (banking intents)",
    )
    train.add_argument(
        "--data-root", help="folder of the training sources (default: ../shared/data)"
    )
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--name", default="custom", help="model name (with --data)")
    train.add_argument("--version", default="0.1.0", help="model version")
    train.add_argument("--seed", type=int, default=20261125)
    train.set_defaults(func=_cmd_train)

    evaluate = sub.add_parser(
        "evaluate",
        help="write an evaluation report (markdown and plots) into a model folder",
    )
    evaluate.add_argument("--model", required=True, help="model folder made by a recipe")
    evaluate.add_argument(
        "--data-root", help="folder of the training sources (default: ../shared/data)"
    )
    evaluate.add_argument("--seed", type=int, default=20261125)
    evaluate.set_defaults(func=_cmd_evaluate)

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
    classify.set_defaults(func=_cmd_classify)

    sign = sub.add_parser(
        "sign-model",
        help="sign a model folder's manifest (manifest.json.sig) with MODEL_SIGNING_KEY",
    )
    sign.add_argument("model", help="model folder")
    sign.set_defaults(func=_cmd_sign_model)

    produce = sub.add_parser(
        "produce", help="send a JSONL or CSV file of content to the input topic"
    )
    produce.add_argument("file")
    produce.add_argument("--topic", help="topic (default: INPUT_TOPIC)")
    produce.add_argument("--limit", type=int, help="send at most this many records")
    produce.add_argument("--quiet", action="store_true", help="no progress bar")
    produce.set_defaults(func=_cmd_produce)

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
    replay.set_defaults(func=_cmd_replay_dlq)

    demo = sub.add_parser("demo", help="the whole job on the embedded broker, with a summary")
    demo.add_argument("--messages", type=int, default=50_000)
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_cmd_demo)

    broker = sub.add_parser("broker", help="start the embedded broker and print its address")
    broker.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    broker.add_argument(
        "--create-topics", action="store_true", help="create the input, output and DLQ topics"
    )
    broker.add_argument("--partitions", type=int, default=4)
    broker.set_defaults(func=_cmd_broker)

    schemas = sub.add_parser("schemas", help="write the JSON Schema files of the contracts")
    schemas.add_argument("--out", help="folder (default: schemas/)")
    schemas.set_defaults(func=_cmd_schemas)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from consumer.config.settings import SettingsError
    from consumer.devkit.broker import BrokerError
    from consumer.model.artifact import ModelArtifactError
    from consumer.tools.produce import ProduceError
    from consumer.tools.replay import ReplayError

    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ModelArtifactError as exc:
        print(f"content-classifier {args.command}: model refused: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (SettingsError, BrokerError, ProduceError, ReplayError, FileNotFoundError) as exc:
        # Bad settings, files or data: a clear message, no traceback.
        print(f"content-classifier {args.command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ValueError as exc:
        if args.command not in {"train", "evaluate", "classify", "replay-dlq"}:
            raise
        print(f"content-classifier {args.command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
