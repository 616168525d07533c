"""A shadow model: a candidate scoring the primary's batches on live traffic, without a say.

The worker hands each classified batch to `Shadow.offer`, which never waits: when the shadow
is still busy with an earlier batch, this one is dropped (`content_classifier_shadow_batches
_total{result="busy"}`), so at most one shadow batch runs at a time and the primary's
verdicts, their delivery and the commits never depend on it. The worker runs the shadow
model in a child process at nice +10 (`consumer.stream.shadow_process`), with
SHADOW_MODEL_THREADS onnxruntime threads: it shares the cores but not the interpreter lock,
and on a busy machine the kernel runs the primary first. A thread of the worker hands it the
batch and waits for its answer (the thread itself is also niced). Its results are compared with the
primary's (agreement by label pair, score difference) and, with SHADOW_OUTPUT_TOPIC set,
produced there as verdicts in the verdict schema with `"shadow": true`, through a producer
of its own: a shadow topic that fails never touches the primary's producer.

A shadow batch that raises, or that takes longer than SHADOW_TIMEOUT_S, is dropped with a
log line and counted (`result="failed"` / `"slow"`). The shadow model is verified like the
primary, and reloaded the same way when its folder changes; promoting it is pointing
MODEL_PATH at its folder (the primary's hot reload).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.model.classifier import Classifier, Prediction
from consumer.serving.metrics import observe_many
from consumer.serving.verdicts import rfc3339_now
from consumer.stream.codec import Decoded, verdict_values
from consumer.stream.metrics import Metrics
from consumer.stream.ports import ProducerLike
from consumer.stream.shadow_process import ShadowProcess

__all__ = ["SHADOW_NICE", "Shadow"]

log = get_logger(__name__)

#: The shadow thread's niceness: below the primary's threads in the kernel's scheduler.
SHADOW_NICE = 10

_Job = tuple[list[tuple[Decoded, Prediction]], float]


class Shadow:
    """The shadow model, its thread, and its own producer (when it has an output topic)."""

    def __init__(
        self,
        settings: Settings,
        classifier: Classifier | ShadowProcess,
        metrics: Metrics,
        producer_factory: Callable[..., ProducerLike] | None = None,
        new_models: Callable[[], Classifier | ShadowProcess | None] | None = None,
    ) -> None:
        self.settings = settings
        self.classifier = classifier
        self._metrics = metrics
        self._new_models = new_models
        self._timeout_s = settings.shadow_timeout_s
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        #: When the running batch was handed over (None: idle); set by `offer`, cleared by
        #: the shadow thread.
        self._running_since: float | None = None
        self._reported_slow = False
        self._producer: ProducerLike | None = None
        if settings.shadow_output_topic and producer_factory is not None:
            self._producer = producer_factory(error_cb=self._on_producer_error)
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._version = classifier.version
        metrics.shadow_model.info(classifier.reference)

    def start(self) -> Shadow:
        self._thread.start()
        return self

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop taking batches; give produced shadow verdicts `timeout_s` to be delivered;
        stop the shadow's process, if it has one."""
        self._jobs.put(None)
        if self._producer is not None:
            self._producer.flush(timeout_s)
        close = getattr(self.classifier, "close", None)
        if close is not None:
            close()

    @property
    def busy(self) -> bool:
        return self._running_since is not None

    def offer(self, classified: list[tuple[Decoded, Prediction]], now: float | None = None) -> bool:
        """Hand a classified batch to the shadow, or drop it when the shadow is busy.
        Returns whether the shadow took it. Never blocks."""
        if not classified:
            return False
        now = time.monotonic() if now is None else now
        since = self._running_since
        if since is not None:
            self._metrics.shadow_batches.labels("busy").inc()
            if now - since > self._timeout_s and not self._reported_slow:
                self._reported_slow = True
                self._metrics.shadow_batches.labels("slow").inc()
                log.warning(
                    "shadow model slower than SHADOW_TIMEOUT_S: its batch will be dropped",
                    shadow_model_version=self.classifier.version,
                    seconds=round(now - since, 3),
                    timeout_s=self._timeout_s,
                )
            return False
        self._running_since = now
        self._reported_slow = False
        self._jobs.put((classified, now))
        return True

    # -- the shadow thread -------------------------------------------------------------

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SHADOW_NICE)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._score(*job)
            except Exception as exc:  # a failing shadow is dropped, never the primary's loop
                self._metrics.shadow_batches.labels("failed").inc()
                log.warning(
                    "shadow model failed on a batch; dropped",
                    shadow_model_version=self.classifier.version,
                    error=f"{type(exc).__name__}: {exc}",
                )
            finally:
                self._running_since = None
            if self._producer is not None:
                self._producer.poll(0)

    def _score(self, classified: list[tuple[Decoded, Prediction]], handed_at: float) -> None:
        self._switch_model()
        classifier = self.classifier
        started = time.monotonic()
        predictions = classifier.classify([item.text for item, _ in classified])
        elapsed = time.monotonic() - started
        self._metrics.shadow_duration.observe(elapsed)
        if time.monotonic() - handed_at > self._timeout_s:
            if not self._reported_slow:
                self._metrics.shadow_batches.labels("slow").inc()
                log.warning(
                    "shadow model slower than SHADOW_TIMEOUT_S: batch dropped",
                    shadow_model_version=classifier.version,
                    seconds=round(elapsed, 3),
                    timeout_s=self._timeout_s,
                )
            return
        self._compare(classified, predictions)
        self._metrics.shadow_batches.labels("scored").inc()
        if self._producer is not None:
            self._produce(classified, predictions)

    def _compare(
        self, classified: list[tuple[Decoded, Prediction]], predictions: list[Prediction]
    ) -> None:
        pairs = Counter(
            (p.label, s.label) for (_, p), s in zip(classified, predictions, strict=True)
        )
        for (primary, shadow), n in pairs.items():
            self._metrics.shadow_agreement.labels(primary, shadow).inc(n)
        differences = [
            s.scores[p.label] - p.score
            for (_, p), s in zip(classified, predictions, strict=True)
            if p.label in s.scores
        ]
        observe_many(self._metrics.shadow_score_difference, np.asarray(differences))

    def _produce(
        self, classified: list[tuple[Decoded, Prediction]], predictions: list[Prediction]
    ) -> None:
        producer, topic = self._producer, self.settings.shadow_output_topic
        assert producer is not None and topic is not None
        model = self.classifier.reference
        shadowed = [(item, s) for (item, _), s in zip(classified, predictions, strict=True)]
        values = verdict_values(
            shadowed, model, rfc3339_now(), {"shadow": True}, self.settings.carried_headers
        )
        for _, key, value, _, headers in values:
            try:
                producer.produce(topic, value, key, on_delivery=self._on_delivery, headers=headers)
            except BufferError:
                self._metrics.shadow_verdicts.labels("dropped").inc()
            except Exception as exc:  # a shadow verdict that cannot be queued is dropped
                self._metrics.shadow_verdicts.labels("dropped").inc()
                log.warning("shadow verdict dropped", error=f"{type(exc).__name__}: {exc}")

    def _on_delivery(self, error: Any, _message: Any) -> None:
        self._metrics.shadow_verdicts.labels("failed" if error is not None else "delivered").inc()

    def _on_producer_error(self, error: Any) -> None:
        log.warning("shadow producer error", error=str(error))

    def _switch_model(self) -> None:
        new = self._new_models() if self._new_models else None
        if new is None:
            return
        previous = self._version
        self.classifier = new
        self._version = new.version
        self._metrics.shadow_model.info(new.reference)
        log.info("shadow model switched", model_version=new.version, previous=previous)
