"""Spans per batch: one span a batch, linked to the inputs' W3C trace contexts (the SDK's
in-memory exporter), and nothing when tracing is off."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from consumer.config.settings import Settings
from consumer.stream.tracing import MAX_LINKS, NO_TRACING, OtelTracing, trace_contexts
from tests.fakes import FakeMessage

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def traced(offset: int, trace_id: str = TRACE) -> FakeMessage:
    headers: list[tuple[str, bytes | None]] = [
        ("traceparent", f"00-{trace_id}-{PARENT}-01".encode()),
        ("tracestate", b"vendor=value"),
        ("x-other", b"1"),
    ]
    return FakeMessage(b"{}", _offset=offset, _headers=headers)


def test_a_batch_span_links_each_input_trace_context() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = OtelTracing(provider, "content.raw")
    other = "0af7651916cd43dd8448eb211c80319c"
    records = [traced(0), FakeMessage(b"{}", _offset=1), traced(2, other)]
    records.append(FakeMessage(b"{}", _offset=3, _headers=[("traceparent", b"garbage")]))
    with tracing.batch(records, "1.2.3") as span:
        span.set_attribute("content_classifier.verdicts", 4)
    [finished] = exporter.get_finished_spans()
    assert finished.kind is SpanKind.CONSUMER
    assert finished.parent is None
    assert finished.attributes is not None
    assert finished.attributes["messaging.batch.message_count"] == 4
    assert finished.attributes["content_classifier.model.version"] == "1.2.3"
    assert finished.attributes["content_classifier.verdicts"] == 4
    linked = [
        (format(link.context.trace_id, "032x"), link.context.span_id) for link in finished.links
    ]
    assert linked == [(TRACE, int(PARENT, 16)), (other, int(PARENT, 16))]
    assert finished.links[0].context.trace_state.to_header() == "vendor=value"


def test_trace_contexts_are_bounded_and_skip_records_without_one() -> None:
    records = [FakeMessage(b"{}")] + [traced(i) for i in range(MAX_LINKS + 10)]
    carriers = trace_contexts(records)
    assert len(carriers) == MAX_LINKS
    assert set(carriers[0]) == {"traceparent", "tracestate"}


def test_tracing_off_is_a_null_context() -> None:
    with NO_TRACING.batch([traced(0)], "1") as span:
        assert span is None
    NO_TRACING.shutdown()


def test_carried_headers_always_hold_trace_context_and_add_the_configured_names() -> None:
    assert Settings().carried_headers == {"traceparent", "tracestate"}
    settings = Settings(carry_headers="X-Correlation-Id, x-request-id,")
    assert settings.carried_headers == {
        "traceparent",
        "tracestate",
        "x-correlation-id",
        "x-request-id",
    }
