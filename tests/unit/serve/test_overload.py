"""Requests beyond SERVE_MAX_CONNECTIONS in flight get the API's JSON 503 with Retry-After;
the probes and the scrapes are never refused; Starlette's own errors (404, 405) and a client
that leaves mid-body are answered or counted in the API's terms."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jsonschema
from prometheus_client import generate_latest

from consumer.contracts.schemas import SCHEMA_DIR
from consumer.serve.app import Api, ServeLimits, build_app
from consumer.serve.batcher import Batcher
from consumer.serve.metrics import ServeMetrics
from tests.fakes import fake_classifier

ERROR_SCHEMA = json.loads((SCHEMA_DIR / "error.schema.json").read_text())


def an_api(max_in_flight: int = 512) -> tuple[Api, Any]:
    metrics = ServeMetrics()
    api = Api(
        Batcher(fake_classifier(), max_texts=64),
        None,
        None,
        ServeLimits(max_in_flight=max_in_flight, body_timeout_s=30),
        metrics=metrics,
    )
    app = build_app(
        api, b"<html></html>", lambda: (generate_latest(metrics.registry), "text/plain")
    )
    return api, app


def assert_error(response: httpx.Response, status: int, says: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    jsonschema.validate(response.json(), ERROR_SCHEMA)
    assert response.json()["error"]["status"] == status
    assert says in response.json()["error"]["message"]


def test_requests_beyond_the_limit_get_a_json_503_and_the_probes_still_answer() -> None:
    async def scenario() -> tuple[httpx.Response, list[int], list[int], int, str]:
        _, app = an_api(max_in_flight=2)
        release = asyncio.Event()
        waiting = 0

        async def slow_body() -> AsyncIterator[bytes]:
            nonlocal waiting
            yield b'{"text": '
            waiting += 1  # the server asked for more: this request is in flight
            await release.wait()
            yield b'"held"}'

        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://api") as client,
        ):
            held = [
                asyncio.create_task(client.post("/v1/classify", content=slow_body()))
                for _ in range(2)
            ]
            while waiting < 2:
                await asyncio.sleep(0.001)
            refused = await client.post("/v1/classify", json={"text": "one too many"})
            probes = [(await client.get(p)).status_code for p in ("/healthz", "/readyz")]
            release.set()
            answered = [r.status_code for r in await asyncio.gather(*held)]
            after = (await client.post("/v1/explain", json={"text": "room again"})).status_code
            metrics = (await client.get("/metrics")).text
        return refused, probes, answered, after, metrics

    refused, probes, answered, after, metrics = asyncio.run(scenario())
    assert_error(refused, 503, "over 2 requests in flight")
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["connection"] == "close"
    assert probes == [200, 200]
    assert answered == [200, 200]
    assert after == 200
    assert 'content_classifier_http_requests_total{route="classify",status="503"} 1.0' in metrics
    assert 'content_classifier_http_requests_total{route="classify",status="200"} 2.0' in metrics


def test_an_unknown_path_or_method_gets_the_json_error_body() -> None:
    async def scenario() -> list[httpx.Response]:
        _, app = an_api()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return [
                await client.get("/v2/classify"),
                await client.get("/v1/classify"),
                await client.delete("/healthz"),
            ]

    missing, get_classify, delete_health = asyncio.run(scenario())
    assert_error(missing, 404, "Not Found: GET /v2/classify")
    assert_error(get_classify, 405, "Method Not Allowed: GET /v1/classify")
    assert get_classify.headers["allow"] == "POST"
    assert_error(delete_health, 405, "DELETE /healthz")
    assert set(delete_health.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_a_client_that_leaves_mid_body_is_no_server_error() -> None:
    async def scenario() -> str:
        api, app = an_api()
        sent: list[dict[str, Any]] = []
        messages: Iterator[dict[str, Any]] = iter(
            [
                {"type": "http.request", "body": b'{"text": ', "more_body": True},
                {"type": "http.disconnect"},
            ]
        )

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/classify",
            "raw_path": b"/v1/classify",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8080),
        }
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
        assert api.metrics is not None
        return generate_latest(api.metrics.registry).decode()

    metrics = asyncio.run(scenario())
    assert 'content_classifier_http_requests_total{route="classify",status="499"} 1.0' in metrics
    assert 'status="500"' not in metrics
