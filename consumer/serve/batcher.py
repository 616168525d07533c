"""Concurrent requests batched into one model call.

Requests put their texts on a queue and wait on a future. One task takes what is queued,
waits up to `max_wait_s` for more while the batch is under `max_texts`, and runs the model
on one executor thread, so the event loop keeps accepting and answering while the model
works and there is never more than one model call at a time (the model is the bottleneck:
two calls would only take turns on the cores). A new model from the hot-reload watcher is
taken between batches.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from consumer.model.classifier import Classifier, Prediction

__all__ = ["Batcher", "Job"]


@dataclass(slots=True)
class Job:
    texts: Sequence[str]
    future: asyncio.Future[list[Prediction]]
    #: The classifier that judged it (its name and version go into the verdicts).
    classifier: Classifier | None = None
    queued_at: float = field(default_factory=time.monotonic)


class Batcher:
    def __init__(
        self,
        classifier: Classifier,
        *,
        max_texts: int,
        max_wait_s: float,
        new_models: Callable[[], Classifier | None] | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.classifier = classifier
        self.max_texts = max_texts
        self.max_wait_s = max_wait_s
        self._new_models = new_models
        self._on_batch = on_batch
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
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
        job = Job(texts, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        predictions = await job.future
        assert job.classifier is not None
        return job.classifier, predictions

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].texts)
            deadline = loop.time() + self.max_wait_s
            while size < self.max_texts:
                remaining = deadline - loop.time()
                try:
                    job = (
                        self._queue.get_nowait()
                        if remaining <= 0
                        else await asyncio.wait_for(self._queue.get(), remaining)
                    )
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                jobs.append(job)
                size += len(job.texts)
            jobs = [job for job in jobs if not job.future.done()]  # a client that went away
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
                predictions = await loop.run_in_executor(self._executor, classifier.classify, texts)
            except Exception as exc:  # every waiting request learns of it; the loop goes on
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            if self._on_batch is not None:
                self._on_batch(len(texts), time.monotonic() - started)
            at = 0
            for job in jobs:
                part = predictions[at : at + len(job.texts)]
                at += len(job.texts)
                job.classifier = classifier
                if not job.future.done():
                    job.future.set_result(part)
