"""Concurrent requests batched into one model call.

Requests put their texts on a queue and wait on a future. One task takes everything queued
(up to `max_texts`) and runs the model on one executor thread, so the event loop keeps
accepting and answering while the model works and there is never more than one model call
at a time (the model is the bottleneck: two calls would only take turns on the cores).
Batches form by themselves under load: what arrives while the model works is the next
batch. `max_wait_s` > 0 also holds a batch that is not full for up to that long, for models
whose every call costs much whatever its size. A new model from the hot-reload watcher is
taken between batches.

A model call that raises is split until each failing text is found (as the worker does):
only the requests with such a text get a `TextFailed`, the rest of the batch is answered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from consumer.model.classifier import Classifier, Prediction
from consumer.model.isolation import classify_isolating

__all__ = ["Batcher", "Job", "TextFailed"]

T = TypeVar("T")


class TextFailed(Exception):
    """The model raised on one of a request's texts (`index`, within the request)."""

    def __init__(self, index: int, cause: BaseException) -> None:
        super().__init__(f"the model failed on text {index}: {type(cause).__name__}")
        self.index = index
        self.cause = cause


@dataclass(slots=True)
class Job:
    texts: Sequence[str]
    future: asyncio.Future[tuple[Classifier, list[Prediction]]]


@dataclass(frozen=True, slots=True)
class _Text:
    at: int
    text: str


def classify_batch(
    classifier: Classifier, texts: Sequence[str]
) -> tuple[list[Prediction | None], dict[int, BaseException]]:
    """Predictions of `texts` in order (None where the model failed) and the failures by
    position: one vectorised call, split only when it raises."""
    try:
        return list(classifier.classify(texts)), {}
    except Exception:
        ok, bad = classify_isolating(
            classifier.classify, [_Text(at, text) for at, text in enumerate(texts)]
        )
    predictions: list[Prediction | None] = [None] * len(texts)
    for item, prediction in ok:
        predictions[item.at] = prediction
    return predictions, {item.at: exc for item, exc in bad}


class Batcher:
    def __init__(
        self,
        classifier: Classifier,
        *,
        max_texts: int,
        max_wait_s: float = 0.0,
        new_models: Callable[[], Classifier | None] | None = None,
        on_batch: Callable[[Classifier, int, float], None] | None = None,
    ) -> None:
        self.classifier = classifier
        self.max_texts = max_texts
        self.max_wait_s = max_wait_s
        self._new_models = new_models
        self._on_batch = on_batch
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._queued_texts = 0
        #: Queued texts that fill the batch being held (`max_wait_s` > 0), and its signal.
        self._fills = max_texts
        self._full = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def classify(self, texts: Sequence[str]) -> tuple[Classifier, list[Prediction]]:
        """The predictions of `texts` and the classifier that made them (its name and version
        go into the verdicts); `TextFailed` if the model raised on one of them."""
        job = Job(texts, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(job)
        self._queued_texts += len(texts)
        if self._queued_texts >= self._fills:
            self._full.set()
        return await job.future

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` on the model's thread: between model calls, never beside one."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _take(self) -> Job:
        job = self._queue.get_nowait()
        self._queued_texts -= len(job.texts)
        return job

    async def _next_batch(self) -> list[Job]:
        first = await self._queue.get()
        self._queued_texts -= len(first.texts)
        if self.max_wait_s > 0 and self._queued_texts + len(first.texts) < self.max_texts:
            self._fills = self.max_texts - len(first.texts)
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.max_wait_s)
            self._fills = self.max_texts
        jobs, size = [first], len(first.texts)
        while size < self.max_texts and not self._queue.empty():
            job = self._take()
            jobs.append(job)
            size += len(job.texts)
        return [job for job in jobs if not job.future.done()]  # clients that went away

    async def _run(self) -> None:
        while True:
            jobs = await self._next_batch()
            if not jobs:
                continue
            if self._new_models is not None:
                new = self._new_models()
                if new is not None:
                    self.classifier = new
            classifier = self.classifier
            texts = [text for job in jobs for text in job.texts]
            started = time.monotonic()
            try:
                predictions, failed = await self.run(classify_batch, classifier, texts)
            except Exception as exc:  # not the model's: every waiting request learns of it
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            if self._on_batch is not None:
                self._on_batch(classifier, len(texts), time.monotonic() - started)
            at = 0
            for job in jobs:
                start, at = at, at + len(job.texts)
                if job.future.done():
                    continue
                bad = next((i for i in range(start, at) if i in failed), None) if failed else None
                if bad is not None:
                    job.future.set_exception(TextFailed(bad - start, failed[bad]))
                else:  # no None among them: a None is a failure
                    part = cast(list[Prediction], predictions[start:at])
                    job.future.set_result((classifier, part))
