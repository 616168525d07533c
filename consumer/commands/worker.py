"""`run`: a worker of the consumer group, or several on one machine."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, cast

from consumer import __version__
from consumer.commands import Handler

if TYPE_CHECKING:
    from consumer.config.settings import Settings
    from consumer.serving.policies import SourcePolicies
    from consumer.stream.metrics import Metrics
    from consumer.stream.shadow import Shadow
    from consumer.stream.tracing import BatchTracing

__all__ = ["EXIT_SHUTDOWN_TIMEOUT", "HANDLERS", "register"]

EXIT_SHUTDOWN_TIMEOUT = 3


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    # Stopped while it loads its model (a rollout that changes its mind): nothing is
    # consumed yet, so exit 0 at once rather than die of the signal.
    signal.signal(signal.SIGTERM, _stop_before_start)
    signal.signal(signal.SIGINT, _stop_before_start)
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
    policies = SourcePolicies.from_settings(settings, metrics)
    shadow = _shadow(settings, metrics, policies)
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
    if not settings.group_leave_on_stop:
        _exit_without_leaving()
    return 0


def _tracing(settings: Settings) -> BatchTracing:
    """Spans per batch when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise none."""
    from consumer.stream.tracing import NO_TRACING, OtelTracing

    if settings.otel_exporter_otlp_endpoint is None:
        return NO_TRACING
    return OtelTracing.from_environment(settings.input_topic)


def _shadow(settings: Settings, metrics: Metrics, policies: SourcePolicies | None) -> Shadow | None:
    """The shadow of SHADOW_MODEL_PATH: its model in a child process that verifies it like the
    primary, reloaded every MODEL_RELOAD_INTERVAL_S when its folder changes; its verdicts are
    decided by the primary's `policies` (POLICY_FILE), per source."""
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
        policies=policies,
    )
    return shadow


def _stop_before_start(signum: int, _frame: FrameType | None) -> None:
    sys.stderr.write(f"{signal.Signals(signum).name} before the worker started; exiting\n")
    raise SystemExit(0)


def _exit_without_leaving() -> None:
    """GROUP_LEAVE_ON_STOP=false: the worker has committed and left its consumer open;
    destroying it (as the interpreter would on exit) sends LeaveGroup, so the process ends
    here instead, as a killed one would but with everything committed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _exit_after_timeout() -> None:
    sys.stderr.write("shutdown did not finish within SHUTDOWN_TIMEOUT_S; exiting\n")
    sys.stderr.flush()
    os._exit(EXIT_SHUTDOWN_TIMEOUT)


HANDLERS: dict[str, Handler] = {"run": _cmd_run}
