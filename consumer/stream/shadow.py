"""A shadow model: a candidate scoring the primary's batches on live traffic, without a say.

The worker hands each classified batch to `Shadow.offer`, which never waits: the batch waits
for the shadow, beside the one it is scoring, among at most SHADOW_QUEUE_BATCHES batches
(default 4) of up to BATCH_MAX_MESSAGES texts (small batches share one), and when those are
full it is dropped (`content_classifier_shadow_batches_total{result="busy"}`). So a burst or
a short backlog is covered in full when the machine has room for it, a longer backlog is
sampled, and the primary's verdicts, their delivery and the commits never depend on the
shadow; it holds at most (SHADOW_QUEUE_BATCHES + 1) x BATCH_MAX_MESSAGES records.
`content_classifier_shadow_texts_total{result}` counts the texts of the batches offered:
coverage is its `scored` share. The worker runs the shadow model in a child process at nice
+10 (`consumer.stream.shadow_process`), with SHADOW_MODEL_THREADS onnxruntime threads: it
shares the cores but not the interpreter lock, and on a busy machine the kernel runs the
primary first. A thread of the worker hands it the batch and waits for its answer (the
thread itself is also niced).

With POLICY_FILE, the shadow's scores are decided by the same policies per source as the
primary's (in this process, on the shadow model's labels and thresholds): each batch by the
policy set the primary's verdicts of that batch were decided by, taken when it is offered,
so a reload between batches reaches both alike. Its results are compared with the primary's
(agreement by label pair, score difference) and, with SHADOW_OUTPUT_TOPIC set, produced
there as verdicts in the verdict schema with `"shadow": true`, through a producer of its own:
a shadow topic that fails never touches the primary's producer.

A shadow call that raises, or that takes longer than SHADOW_TIMEOUT_S from when the shadow
starts it, is dropped with a log line and its batches counted (`result="failed"` / `"slow"`);
each offered batch ends up counted under exactly one result (those still waiting at shutdown
as `busy`). The shadow model is verified like the primary, and reloaded the same way when its
folder changes; promoting it is pointing MODEL_PATH at its folder (the primary's hot reload).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.model.classifier import Classifier, Prediction
from consumer.model.policies import PolicySet
from consumer.serving.metrics import observe_many
from consumer.serving.policies import SourcePolicies
from consumer.serving.verdicts import rfc3339_now
from consumer.stream.codec import Decoded, verdict_values
from consumer.stream.metrics import Metrics
from consumer.stream.ports import ProducerLike
from consumer.stream.shadow_process import ShadowProcess

__all__ = ["SHADOW_NICE", "Shadow"]

log = get_logger(__name__)

#: The shadow thread's niceness: below the primary's threads in the kernel's scheduler.
SHADOW_NICE = 10

_Batch = list[tuple[Decoded, Prediction]]
#: What becomes of an offered batch (`content_classifier_shadow_batches_total{result}`).
_RESULTS = ("scored", "busy", "slow", "failed")


@dataclass(slots=True)
class _Job:
    """Batches for one model call: a primary batch, and the small ones offered after it
    while it waited, with the policy set the primary's verdicts of each were decided by."""

    parts: list[_Batch]
    policies: PolicySet | None
    texts: int


class _Waiting:
    """The jobs waiting for the shadow thread: at most `bound`, each of at most `max_texts`
    texts (one primary batch's worth). A batch joins the last job when it fits: a steady
    trickle makes batches of a few records, and one model call each (the child's round trip
    and the model's fixed cost) would fill a queue of batches within milliseconds."""

    def __init__(self, bound: int, max_texts: int) -> None:
        self._bound, self._max_texts = bound, max_texts
        self._jobs: deque[_Job] = deque()
        self._changed = threading.Condition()
        self._closed = False
        #: Jobs put and not done (waiting, or being scored).
        self.unfinished = 0

    def put(self, batch: _Batch, policies: PolicySet | None) -> bool:
        """Queue a batch; False (never a wait) when closed or full."""
        with self._changed:
            if self._closed:
                return False
            last = self._jobs[-1] if self._jobs else None
            if (
                last is not None
                and last.policies is policies
                and last.texts + len(batch) <= self._max_texts
            ):
                last.parts.append(batch)
                last.texts += len(batch)
                return True
            if len(self._jobs) >= self._bound:
                return False
            self._jobs.append(_Job([batch], policies, len(batch)))
            self.unfinished += 1
            self._changed.notify()
            return True

    def get(self) -> _Job | None:
        """The next job, waiting for one; None once closed."""
        with self._changed:
            while not self._jobs and not self._closed:
                self._changed.wait()
            return self._jobs.popleft() if self._jobs else None

    def done(self) -> None:
        with self._changed:
            self.unfinished -= 1

    def close(self) -> list[_Job]:
        """Take no more batches; the jobs that were still waiting."""
        with self._changed:
            self._closed = True
            left = list(self._jobs)
            self._jobs.clear()
            self.unfinished -= len(left)
            self._changed.notify_all()
        return left


@dataclass(slots=True)
class _Running:
    """The job the shadow thread is on; `settled` once its result is counted or claimed (by
    the thread, or by `offer` finding it over SHADOW_TIMEOUT_S): counted once."""

    started: float
    batches: int
    texts: int
    settled: bool = False


class Shadow:
    """The shadow model, its queue and thread, and its own producer (with an output topic)."""

    def __init__(
        self,
        settings: Settings,
        classifier: Classifier | ShadowProcess,
        metrics: Metrics,
        producer_factory: Callable[..., ProducerLike] | None = None,
        new_models: Callable[[], Classifier | ShadowProcess | None] | None = None,
        policies: SourcePolicies | None = None,
    ) -> None:
        self.settings = settings
        self.classifier = classifier
        self._metrics = metrics
        self._new_models = new_models
        self._policies = policies
        self._timeout_s = settings.shadow_timeout_s
        self._waiting = _Waiting(settings.shadow_queue_batches, settings.batch_max_messages)
        #: The job being scored; `_lock` keeps its result counted once between the shadow
        #: thread and `offer` (the loop's thread).
        self._running: _Running | None = None
        self._lock = threading.Lock()
        self._warned_version: str | None = None
        self._producer: ProducerLike | None = None
        if settings.shadow_output_topic and producer_factory is not None:
            self._producer = producer_factory(error_cb=self._on_producer_error)
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._version = classifier.version
        metrics.shadow_model.info(classifier.reference)
        for result in _RESULTS:  # every series from the start: a share of none is 0, not absent
            metrics.shadow_batches.labels(result)
            metrics.shadow_texts.labels(result)

    def start(self) -> Shadow:
        self._thread.start()
        return self

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop taking batches (those still waiting are dropped as busy); give the running
        job and the produced shadow verdicts `timeout_s`; stop the shadow's process."""
        for job in self._waiting.close():
            self._count("busy", len(job.parts), job.texts)
        deadline = time.monotonic() + timeout_s
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._producer is not None:
            self._producer.flush(max(0.0, deadline - time.monotonic()))
        close = getattr(self.classifier, "close", None)
        if close is not None:
            close()

    @property
    def busy(self) -> bool:
        """Whether a batch is being scored or waits for the shadow."""
        return self._waiting.unfinished > 0

    def offer(self, classified: _Batch, now: float | None = None) -> bool:
        """Queue a classified batch for the shadow, or drop it when SHADOW_QUEUE_BATCHES
        batches already wait. Returns whether the shadow took it. Never blocks."""
        if not classified:
            return False
        self._check_slow(time.monotonic() if now is None else now)
        # The set the primary's verdicts of this batch were just decided by: a reload comes
        # between batches, on this thread.
        policies = self._policies.current if self._policies is not None else None
        if self._waiting.put(classified, policies):
            return True
        self._count("busy", 1, len(classified))
        return False

    def _check_slow(self, now: float) -> None:
        """A job over SHADOW_TIMEOUT_S is counted `slow` as soon as the loop sees it: a
        shadow that hangs shows before its queue fills."""
        with self._lock:
            running = self._running
            if running is None or running.settled or now - running.started <= self._timeout_s:
                return
            running.settled = True
        self._count("slow", running.batches, running.texts)
        log.warning(
            "shadow model slower than SHADOW_TIMEOUT_S: its batch will be dropped",
            shadow_model_version=self.classifier.version,
            seconds=round(now - running.started, 3),
            timeout_s=self._timeout_s,
        )

    def _count(self, result: str, batches: int, texts: int) -> None:
        self._metrics.shadow_batches.labels(result).inc(batches)
        self._metrics.shadow_texts.labels(result).inc(texts)

    # -- the shadow thread -------------------------------------------------------------

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SHADOW_NICE)
        while (job := self._waiting.get()) is not None:
            try:
                self._take(job)
            finally:
                self._waiting.done()
            if self._producer is not None:
                self._producer.poll(0)

    def _take(self, job: _Job) -> None:
        """Score a job in one model call and count its result (any error in it is the
        shadow's alone)."""
        classified = [pair for part in job.parts for pair in part]
        running = _Running(time.monotonic(), len(job.parts), len(classified))
        with self._lock:
            self._running = running
        try:
            predictions = self._score(job, classified)
        except Exception as exc:  # a failing shadow is dropped, never the primary's loop
            if self._settle(running):
                self._count("failed", running.batches, running.texts)
                self._failed(exc)
            return
        if not self._settle(running):
            return  # `offer` counted it slow meanwhile
        seconds = time.monotonic() - running.started
        if seconds > self._timeout_s:
            self._count("slow", running.batches, running.texts)
            log.warning(
                "shadow model slower than SHADOW_TIMEOUT_S: batch dropped",
                shadow_model_version=self.classifier.version,
                seconds=round(seconds, 3),
                timeout_s=self._timeout_s,
            )
            return
        try:
            self._compare(classified, predictions)
            if self._producer is not None:
                self._produce(classified, predictions)
        except Exception as exc:  # bad input the primary coped with: the shadow's problem
            self._count("failed", running.batches, running.texts)
            self._failed(exc)
            return
        self._count("scored", running.batches, running.texts)

    def _settle(self, running: _Running) -> bool:
        """Claim the running batches' result; False when `offer` has counted them slow."""
        with self._lock:
            self._running = None
            claimed, running.settled = not running.settled, True
        return claimed

    def _failed(self, exc: Exception) -> None:
        log.warning(
            "shadow model failed on a batch; dropped",
            shadow_model_version=self.classifier.version,
            error=f"{type(exc).__name__}: {exc}",
        )

    def _score(self, job: _Job, classified: _Batch) -> list[Prediction]:
        self._switch_model()
        started = time.monotonic()
        predictions = self.classifier.classify([item.text for item, _ in classified])
        self._metrics.shadow_duration.observe(time.monotonic() - started)
        if job.policies is None or self._policies is None:
            return predictions
        return self._decide(classified, predictions, job.policies, self._policies)

    def _decide(
        self,
        classified: _Batch,
        predictions: list[Prediction],
        policies: PolicySet,
        routing: SourcePolicies,
    ) -> list[Prediction]:
        """The shadow's scores decided by each record's policy, as the primary's are
        (`SourcePolicies.apply`, whose counts are the primary's alone)."""
        classifier = self.classifier
        decider = classifier if isinstance(classifier, Classifier) else classifier.decider
        if decider.positive is None:
            if self._warned_version != decider.version:
                self._warned_version = decider.version
                log.warning(
                    "the shadow model has no positive label: POLICY_FILE does not apply to it",
                    shadow_model_version=decider.version,
                )
            return predictions
        return routing.decide(decider, [item for item, _ in classified], predictions, policies)

    def _compare(self, classified: _Batch, predictions: list[Prediction]) -> None:
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

    def _produce(self, classified: _Batch, predictions: list[Prediction]) -> None:
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
