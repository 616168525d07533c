"""The batcher on a fake model: requests merged into model calls, failing texts isolated to
their own requests, a held batch let go as soon as it is full."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import orjson
import pytest

from consumer.serve.app import Api, ServeLimits, build_app
from consumer.serve.batcher import Batcher, TextFailed
from consumer.serve.metrics import ServeMetrics
from tests.fakes import POISON, PoisonModel, fake_classifier


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def started(**options: Any) -> tuple[Batcher, PoisonModel]:
    classifier = fake_classifier()
    batcher = Batcher(classifier, **{"max_texts": 64, **options})
    batcher.start()
    assert isinstance(classifier.estimator, PoisonModel)
    return batcher, classifier.estimator


def test_requests_queued_while_the_model_works_share_its_next_call() -> None:
    async def scenario() -> tuple[list[Any], int]:
        batcher, model = await started()
        try:
            answers = await asyncio.gather(
                *(batcher.classify([f"text {i}", "bad"]) for i in range(20))
            )
        finally:
            await batcher.stop()
        return answers, model.calls

    answers, calls = run(scenario())
    assert [[p.label for p in predictions] for _, predictions in answers] == [
        ["benign", "malicious"]
    ] * 20
    assert calls < 20  # 20 requests, fewer model calls


def test_a_failing_text_fails_only_its_own_request() -> None:
    async def scenario() -> Any:
        batcher, _ = await started()
        try:
            return await asyncio.gather(
                batcher.classify(["fine", "bad"]),
                batcher.classify(["fine", f"x {POISON}", "fine"]),
                batcher.classify(["also fine"]),
                return_exceptions=True,
            )
        finally:
            await batcher.stop()

    first, failed, last = run(scenario())
    assert [p.label for p in first[1]] == ["benign", "malicious"]
    assert isinstance(failed, TextFailed) and failed.index == 1
    assert isinstance(failed.cause, RuntimeError)
    assert [p.label for p in last[1]] == ["benign"]


def test_a_held_batch_goes_as_soon_as_it_is_full() -> None:
    async def scenario() -> tuple[float, float, int]:
        batcher, model = await started(max_texts=4, max_wait_s=1.0)
        try:
            began = time.monotonic()
            await asyncio.gather(*(batcher.classify(["a"]) for _ in range(4)))
            full = time.monotonic() - began
            began = time.monotonic()
            await batcher.classify(["alone"])  # waits its max_wait_s for company
            alone = time.monotonic() - began
        finally:
            await batcher.stop()
        return full, alone, model.calls

    full, alone, calls = run(scenario())
    assert full < 0.5
    assert alone >= 1.0
    assert calls == 2


def test_the_api_answers_a_model_failure_with_json_naming_the_text() -> None:
    async def scenario() -> list[httpx.Response]:
        batcher = Batcher(fake_classifier(), max_texts=64)
        api = Api(batcher, None, None, ServeLimits())
        app = build_app(api, b"<html></html>", lambda: (b"", "text/plain"))
        transport = httpx.ASGITransport(app=app)
        bodies = [{"texts": ["ok", POISON]}, {"text": "fine"}, {"text": POISON}]
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://api") as client,
        ):
            return await asyncio.gather(
                *(client.post("/v1/classify", content=orjson.dumps(b)) for b in bodies)
            )

    poisoned, fine, single = run(scenario())
    assert poisoned.status_code == 500
    assert poisoned.json()["error"]["message"] == "the model failed on `texts[1]` (RuntimeError)"
    assert fine.status_code == 200 and fine.json()["verdicts"][0]["label"] == "benign"
    assert single.json()["error"] == {
        "status": 500,
        "message": "the model failed on `text` (RuntimeError)",
    }


@pytest.mark.parametrize("wait_s", [0.0, 0.01])
def test_run_executes_on_the_model_thread(wait_s: float) -> None:
    async def scenario() -> str:
        batcher, _ = await started(max_wait_s=wait_s)
        try:
            return await batcher.run(lambda: threading.current_thread().name)
        finally:
            await batcher.stop()

    assert run(scenario()).startswith("model")


def test_an_unexpected_error_is_a_json_500_and_counted() -> None:
    metrics = ServeMetrics()

    async def scenario() -> httpx.Response:
        batcher = Batcher(fake_classifier(), max_texts=64)
        api = Api(batcher, None, None, ServeLimits(), None, metrics)

        async def broken(request: Any) -> Any:
            raise KeyError("not the model's")

        api._judged = broken  # type: ignore[method-assign]
        app = build_app(api, b"<html></html>", lambda: (b"", "text/plain"))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://api") as client,
        ):
            return await client.post("/v1/classify", json={"text": "hello"})

    answer = run(scenario())
    assert answer.status_code == 500
    assert answer.json()["error"]["message"].startswith("internal error")
    counted = {"route": "classify", "status": "500"}
    assert metrics.registry.get_sample_value("content_classifier_http_requests_total", counted) == 1
