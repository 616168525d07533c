"""Spans per batch, linked to the trace contexts of the records in it (OpenTelemetry).

A batch mixes records of many traces, so its span is a root of its own (kind CONSUMER) with a
link to each input's W3C `traceparent` (span links are how OpenTelemetry's messaging
conventions join a batch to the messages it processed); at most MAX_LINKS of them, the SDK's
default limit. The span says how many records, verdicts and dead letters the batch had and
which model version judged it.

Tracing is on only when OTEL_EXPORTER_OTLP_ENDPOINT is set: spans go over OTLP/HTTP in
batches from a background thread (the SDK's BatchSpanProcessor), and OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES and the exporter's other OTEL_ variables apply as usual. Unset, the
worker uses `NO_TRACING`, whose span is a shared null context: nothing of OpenTelemetry is
imported and a batch pays one `with` statement (docs/benchmarks.md, "Trace context").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from consumer.serving.tracing import provider_from_environment
from consumer.stream.codec import KafkaRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span

__all__ = [
    "MAX_LINKS",
    "NO_TRACING",
    "BatchTracing",
    "OtelTracing",
    "trace_contexts",
]

#: Links kept per batch span: the SDK's default OTEL_SPAN_LINK_COUNT_LIMIT.
MAX_LINKS = 128
SPAN_NAME = "content-classifier classify"


class BatchTracing(Protocol):
    def batch(self, records: Sequence[KafkaRecord], model_version: str) -> Any:
        """A context manager around one batch; it yields a span, or None when off."""

    def shutdown(self) -> None: ...


class _NoTracing:
    """Tracing off: a shared null context per batch."""

    _NULL = contextlib.nullcontext(None)

    def batch(self, records: Sequence[KafkaRecord], model_version: str) -> Any:
        return self._NULL

    def shutdown(self) -> None:
        return None


NO_TRACING: BatchTracing = _NoTracing()


def trace_contexts(records: Sequence[KafkaRecord], limit: int = MAX_LINKS) -> list[dict[str, str]]:
    """The W3C trace-context headers of the first `limit` records that have a traceparent,
    as text carriers for a propagator."""
    carriers = []
    for record in records:
        headers = record.headers()
        if not headers:
            continue
        carrier = {
            name.lower(): value.decode("latin-1")
            for name, value in headers
            if value is not None and name.lower() in ("traceparent", "tracestate")
        }
        if "traceparent" in carrier:
            carriers.append(carrier)
            if len(carriers) >= limit:
                break
    return carriers


class OtelTracing:
    """Spans per batch through an OpenTelemetry tracer provider (tests pass one with the
    SDK's in-memory exporter; `from_environment` builds the OTLP/HTTP one)."""

    def __init__(self, provider: TracerProvider, topic: str) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import Link
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._provider = provider
        self._tracer = provider.get_tracer("content-classifier")
        self._propagator = TraceContextTextMapPropagator()
        self._get_span = trace.get_current_span
        self._kind = trace.SpanKind.CONSUMER
        self._link = Link
        self._topic = topic

    @classmethod
    def from_environment(cls, topic: str) -> OtelTracing:
        """The SDK configured by the OTEL_ variables, exporting over OTLP/HTTP."""
        return cls(provider_from_environment(), topic)

    def links(self, records: Sequence[KafkaRecord]) -> list[Any]:
        links = []
        for carrier in trace_contexts(records):
            context = self._get_span(self._propagator.extract(carrier)).get_span_context()
            if context.is_valid:
                links.append(self._link(context))
        return links

    @contextlib.contextmanager
    def batch(self, records: Sequence[KafkaRecord], model_version: str) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            SPAN_NAME,
            kind=self._kind,
            links=self.links(records),
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": self._topic,
                "messaging.batch.message_count": len(records),
                "content_classifier.model.version": model_version,
            },
        ) as span:
            yield span

    def shutdown(self) -> None:
        """Export what is buffered (at shutdown; bounded by the exporter's timeout)."""
        self._provider.shutdown()
