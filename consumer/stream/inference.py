"""Running the model on a batch without leaving the consumer group.

A slow model runs in a helper thread while the loop's thread keeps the group membership alive
(`KeepAlive`), so that even a slow batch never exceeds `max.poll.interval.ms`. A model that
has been fast runs on the loop's own thread: the hand-off costs more than it protects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from consumer.model.classifier import Prediction
from consumer.model.isolation import Classified, classify_isolating
from consumer.stream.codec import Decoded
from consumer.stream.keepalive import POLL_SLICE_S, KeepAlive
from consumer.stream.metrics import Metrics

__all__ = ["INLINE_UNDER_S", "Inference"]

#: A model whose last batch took less than this classifies the next one on the loop's own
#: thread: the hand-off to the helper thread and back costs about 0.3 ms a batch, and a batch
#: this fast is far from `max.poll.interval.ms` (minutes by default). A slower batch, a new
#: model and the first batch go to the helper thread.
INLINE_UNDER_S = 0.25


class Inference:
    """Where the next batch is classified (the loop's thread or the helper thread), and the
    helper thread itself."""

    def __init__(self, metrics: Metrics, keepalive: KeepAlive) -> None:
        self._metrics = metrics
        self._keepalive = keepalive
        self._executor: ThreadPoolExecutor | None = None
        #: Classify on the loop's thread (the model has been fast).
        self._inline = False
        #: The batch duration under which the next batch runs inline.
        self.inline_under_s = INLINE_UNDER_S

    def start(self) -> None:
        """Start the helper thread (without it, every batch runs on the caller's thread)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def new_model(self) -> None:
        """A model switch: the new model goes to the helper thread until it shows its speed."""
        self._inline = False

    def classify(
        self,
        classify: Callable[[Sequence[str]], list[Prediction]],
        items: list[Decoded],
    ) -> Classified[Decoded]:
        """`classify_isolating` on the helper thread, polling to stay in the group while it
        runs; or, while the model is fast (`inline_under_s`), on this thread."""
        if not items:
            return [], []
        started = time.monotonic()
        if self._executor is None or self._inline:
            try:
                return classify_isolating(classify, items)
            finally:
                elapsed = time.monotonic() - started
                self._inline = elapsed < self.inline_under_s
                self._metrics.inference_duration.observe(elapsed)
        future: Future[Classified[Decoded]] = self._executor.submit(
            classify_isolating, classify, items
        )
        try:
            while True:
                try:
                    return future.result(timeout=POLL_SLICE_S)
                except FutureTimeout:
                    if time.monotonic() - started > self._keepalive.after_s:
                        self._keepalive.poll()
        finally:
            elapsed = time.monotonic() - started
            self._inline = elapsed < self.inline_under_s
            self._metrics.inference_duration.observe(elapsed)
            self._keepalive.end()
