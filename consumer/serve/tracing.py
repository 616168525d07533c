"""A server span per API request, when OTEL_EXPORTER_OTLP_ENDPOINT is set.

OpenTelemetry's ASGI middleware starts each request's span (kind SERVER) as a child of the
caller's W3C `traceparent`, so a pre-send check appears in the caller's trace, with the
route, status and duration; the probes and `/metrics` are left out. Unset, the app is served
as it is and nothing of OpenTelemetry is imported (as in the worker, docs/operations.md,
"Tracing")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["UNTRACED", "traced"]

#: Requests whose spans would only be noise: the probes and the scrapes.
UNTRACED = "/healthz$,/readyz$,/metrics$"


def traced(app: Any, provider: TracerProvider) -> Any:
    """`app` behind the middleware, its spans through `provider` (tests pass one with the
    SDK's in-memory exporter; `serve` the OTLP/HTTP one)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app,
        excluded_urls=UNTRACED,
        tracer_provider=provider,
        # No spans of their own for each body chunk received and each message sent.
        exclude_spans=["receive", "send"],
    )
