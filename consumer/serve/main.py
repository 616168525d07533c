"""Start `content-classifier serve`: load and verify the model as the worker does, read the
API keys and policies, and run the app on uvicorn until SIGTERM."""

from __future__ import annotations

import signal
from importlib import resources
from types import FrameType

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from consumer.config.logs import get_logger
from consumer.config.settings import Settings, SettingsError
from consumer.model.artifact import load_model
from consumer.serve.app import Api, ServeLimits, build_app
from consumer.serve.batcher import Batcher
from consumer.serve.keys import ApiKeyError, ApiKeys
from consumer.serve.limits import RateLimiter
from consumer.serve.metrics import ScoreBuffer, ServeMetrics
from consumer.serve.tracing import traced
from consumer.serving.policies import SourcePolicies
from consumer.serving.reload import ModelWatcher
from consumer.serving.scores import ScoreMonitor
from consumer.serving.tracing import provider_from_environment

__all__ = ["serve"]

log = get_logger("consumer.serve")


def page() -> bytes:
    return resources.files("consumer.serve").joinpath("static/index.html").read_bytes()


def serve(settings: Settings) -> int:
    keys = None
    if settings.serve_api_keys_file is not None:
        try:
            keys = ApiKeys.load(settings.serve_api_keys_file)
        except ApiKeyError as exc:
            raise SettingsError(f"SERVE_API_KEYS_FILE: {exc}") from None
    elif not settings.serve_anonymous:
        raise SettingsError(
            "SERVE_API_KEYS_FILE: set it to a file of API keys, or set SERVE_ANONYMOUS=true "
            "to let anyone call the API"
        )
    classifier = load_model(
        settings.model_path, signing_key=settings.model_signing_key, threads=settings.model_threads
    )
    metrics = ServeMetrics()
    metrics.show_model(classifier)
    scores = ScoreBuffer(ScoreMonitor(settings, metrics, classifier))
    watcher = ModelWatcher.from_settings(settings, classifier, metrics)
    policies = SourcePolicies.from_settings(settings, metrics)
    batcher = Batcher(
        classifier,
        max_texts=settings.serve_batch_max_texts,
        max_wait_s=settings.serve_batch_wait_ms / 1000,
        new_models=watcher.take if watcher else None,
        on_batch=metrics.on_batch,
    )
    limits = ServeLimits(
        max_body_bytes=settings.serve_max_body_bytes,
        max_texts=settings.serve_max_texts,
        max_text_chars=settings.max_text_chars,
        body_timeout_s=settings.serve_body_timeout_s,
        max_in_flight=settings.serve_max_connections,
    )
    limiter = RateLimiter(settings.serve_rate_per_s, settings.serve_burst) if keys else None
    api = Api(batcher, keys, limiter, limits, policies, metrics, scores)

    def exposition() -> tuple[bytes, str]:
        scores.flush()
        return generate_latest(metrics.registry), CONTENT_TYPE_LATEST

    app = build_app(api, page(), exposition)
    provider = None
    if settings.otel_exporter_otlp_endpoint is not None:
        provider = provider_from_environment()
        app = traced(app, provider)
    log.info(
        "serving",
        host=settings.serve_host,
        port=settings.serve_port,
        model=classifier.name,
        model_version=classifier.version,
        keys=len(keys.digests) if keys else 0,
        tracing=provider is not None,
    )
    # uvicorn shuts down gracefully on SIGTERM or SIGINT, then raises the signal again for
    # the handler it found: a no-op here, so that the watcher stops, buffered spans are
    # exported and the exit code is 0, as the worker's.
    previous = {sig: signal.signal(sig, _after_shutdown) for sig in _STOP_SIGNALS}
    try:
        uvicorn.run(
            app,
            host=settings.serve_host,
            port=settings.serve_port,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
            # No limit_concurrency: the app's own limit (consumer/serve/overload.py) answers
            # beyond SERVE_MAX_CONNECTIONS with the API's JSON 503; idle connections are
            # closed after the keep-alive timeout.
            timeout_keep_alive=5,
            timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        )
    finally:
        if watcher:
            watcher.stop()
        if provider is not None:
            provider.shutdown()  # export the spans still buffered
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped")
    return 0


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _after_shutdown(signum: int, frame: FrameType | None) -> None:
    """The signal uvicorn raises again after its graceful shutdown: nothing left to do."""
