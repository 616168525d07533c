"""`content-classifier`: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, cast

import orjson

from consumer import __version__
from consumer.cli_args import build_parser

if TYPE_CHECKING:
    from consumer.config.settings import Settings
    from consumer.stream.metrics import Metrics
    from consumer.stream.shadow import Shadow
    from consumer.stream.tracing import BatchTracing

__all__ = ["main"]

EXIT_CONFIG = 2
EXIT_SHUTDOWN_TIMEOUT = 3


def _cmd_run(args: argparse.Namespace) -> int:
    from consumer.config.logs import configure_logging, get_logger
    from consumer.config.settings import load_settings
    from consumer.model.artifact import load_model
    from consumer.serving.policies import SourcePolicies
    from consumer.serving.reload import ModelWatcher
    from consumer.stream.clients import build_consumer, build_producer
    from consumer.stream.collector import settle_collector
    from consumer.stream.health import Health, HealthServer
    from consumer.stream.metrics import Metrics
    from consumer.stream.supervisor import process_count, run_processes
    from consumer.stream.worker import ConsumerLike, ProducerLike, Worker

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    processes = process_count(args.processes)
    if processes > 1:
        return run_processes(processes, settings)
    log = get_logger("consumer.run")
    log.info("starting", version=__version__, settings=settings.loggable())
    classifier = load_model(
        settings.model_path,
        signing_key=settings.model_signing_key,
        threads=settings.model_threads,
    )
    log.info("model loaded", model=classifier.name, model_version=classifier.version)
    # Build the clients once up front so a bad KAFKA_ property fails start-up, not the loop.
    build_producer(settings)
    metrics, health = Metrics(), Health()
    server = HealthServer(health, metrics, settings.metrics_port).start()
    watcher = ModelWatcher.from_settings(settings, classifier, metrics)
    shadow = _shadow(settings, metrics)
    policies = SourcePolicies.from_settings(settings, metrics)
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
        shadow=shadow,
        policies=policies,
        tracing=_tracing(settings),
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
        worker.tracing.shutdown()
    return 0


def _tracing(settings: Settings) -> BatchTracing:
    """Spans per batch when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise none."""
    from consumer.stream.tracing import NO_TRACING, OtelTracing

    if settings.otel_exporter_otlp_endpoint is None:
        return NO_TRACING
    return OtelTracing.from_environment(settings.input_topic)


def _shadow(settings: Settings, metrics: Metrics) -> Shadow | None:
    """The shadow of SHADOW_MODEL_PATH: its model in a child process that verifies it like the
    primary, reloaded every MODEL_RELOAD_INTERVAL_S when its folder changes."""
    from consumer.config.logs import get_logger
    from consumer.model.artifact import ModelArtifactError
    from consumer.stream.clients import build_producer
    from consumer.stream.ports import ProducerLike
    from consumer.stream.shadow import Shadow
    from consumer.stream.shadow_process import ShadowProcess

    path = settings.shadow_model_path
    if path is None:
        return None
    log = get_logger("consumer.run")
    key = settings.model_signing_key
    try:
        scorer = ShadowProcess(
            path,
            signing_key=key.get_secret_value() if key is not None else None,
            threads=settings.shadow_model_threads,
        )
    except ModelArtifactError as exc:
        raise ModelArtifactError(f"SHADOW_MODEL_PATH: {exc}") from None
    log.info("shadow model loaded", model=scorer.name, model_version=scorer.version)
    reloads = None
    if settings.model_reload_interval_s > 0:
        reloads = scorer.reloader(metrics, settings.model_reload_interval_s)
    shadow = Shadow(
        settings,
        scorer,
        metrics,
        producer_factory=lambda **cb: cast(ProducerLike, build_producer(settings, **cb)),
        new_models=reloads,
    )
    return shadow


def _exit_after_timeout() -> None:
    sys.stderr.write("shutdown did not finish within SHUTDOWN_TIMEOUT_S; exiting\n")
    sys.stderr.flush()
    os._exit(EXIT_SHUTDOWN_TIMEOUT)


def _data_root(args: argparse.Namespace) -> Path:
    from consumer.training.datasets import default_data_root

    return Path(args.data_root) if args.data_root else default_data_root()


def _cmd_train(args: argparse.Namespace) -> int:
    from consumer.training.file_model import train_file
    from consumer.training.recipes import train_default
    from consumer.training.routing import train_routing

    started = time.monotonic()
    if args.recipe == "default":
        folder = train_default(
            _data_root(args), Path(args.out), version=args.version, seed=args.seed
        )
    elif args.recipe == "routing":
        folder = train_routing(
            _data_root(args), Path(args.out), version=args.version, seed=args.seed
        )
    elif args.recipe == "transformer":
        folder = _train_transformer(args)
    elif args.recipe == "cascade":
        from consumer.training.cascade import train_cascade

        if not (args.fast and args.transformer):
            raise SystemExit("train --recipe cascade: give --fast DIR and --transformer DIR")
        folder = train_cascade(
            _data_root(args),
            Path(args.out),
            fast_dir=Path(args.fast),
            transformer_dir=Path(args.transformer),
            version=args.version,
            routed_share=args.routed_share,
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


def _train_transformer(args: argparse.Namespace) -> Path:
    from dataclasses import replace

    from consumer.training.heldout import fold_sources
    from consumer.training.transformer import TransformerRecipe, train_transformer

    recipe = TransformerRecipe()
    if args.rows:
        recipe = replace(recipe, rows=args.rows)
    return train_transformer(
        _data_root(args),
        Path(args.out),
        version=args.version,
        seed=args.seed,
        recipe=recipe,
        exclude=fold_sources(args.held_out_fold) if args.held_out_fold else (),
        threads=args.threads or None,
        max_seconds=args.max_seconds,
    )


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from consumer.training.evaluation import evaluate_model

    started = time.monotonic()
    report = evaluate_model(
        Path(args.model),
        _data_root(args),
        seed=args.seed,
        fold_models=[Path(p) for p in args.fold_models] if args.fold_models else None,
        extra_cascades=[Path(p) for p in args.compare_cascades],
        scores_cache=Path(args.scores_cache) if args.scores_cache else None,
    )
    print(f"wrote {report} in {time.monotonic() - started:.0f} s")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from consumer.config.logs import configure_logging
    from consumer.config.settings import load_settings
    from consumer.serve.main import serve

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return serve(settings)


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
    rejected = ", ".join(f"{k}={v}" for k, v in sorted(joiner.rejected.items())) or "none"
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
    labels = ", ".join(f"{k}={v}" for k, v in sorted(result.labels.items())) or "none"
    skipped = ", ".join(f"{k}={v}" for k, v in sorted(result.skipped.items())) or "none"
    print(
        f"export-feedback: {result.read} feedback records read, {result.written} rows written "
        f"to {args.out} (labels: {labels}; skipped: {skipped})"
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

    for path in write_schemas(Path(args.out) if args.out else None):
        print(path)
    return 0


#: Error types that mean bad settings, files or data (a message and EXIT_CONFIG, no
#: traceback), by module: looked up only in modules already imported, because an exception
#: of such a type can only come from a loaded module, and `run` must not import the devkit
#: or the tools just to name their errors.
_REFUSALS = (
    ("consumer.config.settings", "SettingsError"),
    ("consumer.devkit.broker", "BrokerError"),
    ("consumer.tools.produce", "ProduceError"),
    ("consumer.tools.replay", "ReplayError"),
    ("consumer.tools.feedback", "FeedbackError"),
)

#: The handler of each command of `cli_args.build_parser()`.
_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _cmd_run,
    "feedback": _cmd_feedback,
    "export-feedback": _cmd_export_feedback,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "classify": _cmd_classify,
    "serve": _cmd_serve,
    "sign-model": _cmd_sign_model,
    "produce": _cmd_produce,
    "replay-dlq": _cmd_replay_dlq,
    "demo": _cmd_demo,
    "broker": _cmd_broker,
    "schemas": _cmd_schemas,
}

#: Subpackages the container image leaves out (it holds only what `run` needs).
_OPTIONAL = ("consumer.training", "consumer.devkit")


def _loaded(module: str, name: str) -> tuple[type[BaseException], ...]:
    loaded = sys.modules.get(module)
    return (getattr(loaded, name),) if loaded is not None else ()


def _refusal(command: str, exc: Exception) -> str | None:
    """The one-line message for an error that means bad settings, files or data, or for a
    command whose code this installation leaves out; None for a bug (keep the traceback)."""
    if isinstance(exc, ModuleNotFoundError):
        if ".".join((exc.name or "").split(".")[:2]) not in _OPTIONAL:
            return None
        return f"{exc.name} is not part of this image: use the full package"
    if isinstance(exc, _loaded("consumer.model.artifact", "ModelArtifactError")):
        return f"model refused: {exc}"
    refusals: tuple[type[BaseException], ...] = (FileNotFoundError,)
    for module, name in _REFUSALS:
        refusals += _loaded(module, name)
    if isinstance(exc, refusals) or (
        isinstance(exc, ValueError)
        and command in {"train", "evaluate", "classify", "replay-dlq", "export-feedback"}
    ):
        return str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_HANDLERS[args.command](args))
    except Exception as exc:
        message = _refusal(args.command, exc)
        if message is None:
            raise
        print(f"content-classifier {args.command}: {message}", file=sys.stderr)
        return EXIT_CONFIG
