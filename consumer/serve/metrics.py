"""The API's metrics, in a registry of its own (`/metrics`): the model's (`ModelMetrics`, as
the worker exports them, with `role="serve"` on `content_classifier_build_info`) and the
HTTP ones. None of the consume loop's series, so no worker alert mistakes an API pod for an
idle worker.

Scores reach the score histogram and the drift window through `ScoreBuffer`: one window
entry for everything answered between two scrapes, not one a request."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Histogram

from consumer.model.classifier import Classifier, Prediction
from consumer.serving.metrics import PREFIX, ModelMetrics
from consumer.serving.scores import ScoreMonitor

__all__ = ["ScoreBuffer", "ServeMetrics"]

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServeMetrics(ModelMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("serve", registry)
        r = self.registry
        self.requests = Counter(
            PREFIX + "http_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            PREFIX + "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_texts = Histogram(
            PREFIX + "http_batch_texts",
            "Texts in each model call of `serve` (concurrent requests batched together).",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            PREFIX + "http_inference_duration_seconds",
            "Time of each model call of `serve`.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def on_batch(self, classifier: Classifier, texts: int, seconds: float) -> None:
        self.show_model(classifier)
        self.batch_texts.observe(texts)
        self.inference_duration.observe(seconds)
        self.observe_stages(classifier.estimator)

    def answered(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.request_duration.labels(route).observe(seconds)


class ScoreBuffer:
    """The answered verdicts not yet in the score metrics. They go in as one batch when
    `/metrics` is scraped (`flush`), or once `limit` are waiting, so the drift window holds
    one entry a scrape or a few thousand verdicts however many requests brought them. Used
    on the event loop's thread only."""

    def __init__(self, monitor: ScoreMonitor, limit: int = 4096) -> None:
        self._monitor = monitor
        self._limit = limit
        self._pending: list[Prediction] = []

    def add(self, classifier: Classifier, predictions: list[Prediction]) -> None:
        if classifier is not self._monitor.classifier:  # a reload: the old model's first
            self.flush()
            self._monitor.new_model(classifier)
        self._pending.extend(predictions)
        if len(self._pending) >= self._limit:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self._monitor.observe(pending, Tally(p.label for p in pending))
        else:  # an idle window ages
            self._monitor.publish()
