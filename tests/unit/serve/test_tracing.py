"""A server span per API request, continuing the caller's trace (OpenTelemetry's ASGI
middleware, the SDK's in-memory exporter); none for the probes and scrapes."""

from __future__ import annotations

import asyncio

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from consumer.serve.app import Api, ServeLimits, build_app
from consumer.serve.batcher import Batcher
from consumer.serve.tracing import traced
from tests.fakes import fake_classifier

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def requests_traced() -> tuple[list[httpx.Response], InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def scenario() -> list[httpx.Response]:
        api = Api(Batcher(fake_classifier(), max_texts=64), None, None, ServeLimits())
        app = build_app(api, b"<html></html>", lambda: (b"", "text/plain"))
        transport = httpx.ASGITransport(app=traced(app, provider))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://api") as client,
        ):
            parent = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
            return [
                await client.post("/v1/classify", json={"text": "hello"}, headers=parent),
                await client.post("/v1/classify", json={"text": "no parent"}),
                await client.get("/healthz"),
                await client.get("/metrics"),
            ]

    return asyncio.run(scenario()), exporter


def test_a_request_span_continues_the_callers_trace() -> None:
    responses, exporter = requests_traced()
    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    spans = exporter.get_finished_spans()
    assert len(spans) == 2, "one span a classify request, none for the probe or the scrape"
    child, root = spans
    assert child.kind is SpanKind.SERVER
    assert format(child.context.trace_id, "032x") == TRACE_ID
    assert child.parent is not None and format(child.parent.span_id, "016x") == PARENT_ID
    assert child.name == "POST /v1/classify"
    assert child.attributes is not None and child.attributes["http.status_code"] == 200
    assert root.parent is None and format(root.context.trace_id, "032x") != TRACE_ID
