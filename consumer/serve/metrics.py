"""The API's own metrics, in the registry `/metrics` serves (beside the model-reload and
policy counters it shares with the worker)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from consumer.stream.metrics import PREFIX

__all__ = ["ServeMetrics"]

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            PREFIX + "http_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            PREFIX + "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_texts = Histogram(
            PREFIX + "http_batch_texts",
            "Texts in each model call of `serve` (concurrent requests batched together).",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.inference_duration = Histogram(
            PREFIX + "http_inference_duration_seconds",
            "Time of each model call of `serve`.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )

    def on_batch(self, texts: int, seconds: float) -> None:
        self.batch_texts.observe(texts)
        self.inference_duration.observe(seconds)

    def answered(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.request_duration.labels(route).observe(seconds)
