"""The OpenTelemetry tracer provider of every process that answers with the model: the
worker's spans per batch and the API's spans per request export through it.

It is built only when OTEL_EXPORTER_OTLP_ENDPOINT is set, so nothing of OpenTelemetry is
imported otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["provider_from_environment"]


def provider_from_environment() -> TracerProvider:
    """A tracer provider configured by the OTEL_ variables, exporting over OTLP/HTTP in
    batches from a background thread (the worker's and the API's)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME, when set, overrides the service name given here.
    provider = TracerProvider(resource=Resource.create({"service.name": "content-classifier"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider
