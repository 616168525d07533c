"""At most SERVE_MAX_CONNECTIONS requests in flight: beyond them a request is answered at once
with a 503, the API's JSON error body and `Retry-After`, and its connection is closed.

An ASGI middleware in front of the routes, rather than uvicorn's `limit_concurrency`, whose
503 is plain text and which counts idle keep-alive connections as load. What it counts is
what costs: requests received and not yet answered (a slow body included: it holds memory
and a place in the queue until SERVE_BODY_TIMEOUT_S). The probes and the scrapes are never
refused, so that an overloaded server is neither restarted nor blind.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from consumer.serve.errors import ApiError, error_response

__all__ = ["UNLIMITED_PATHS", "InFlightLimit"]

#: Cheap answers that must keep coming under load: liveness, readiness, metrics.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class InFlightLimit:
    def __init__(
        self, app: ASGIApp, limit: int, on_refused: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.on_refused = on_refused
        self.in_flight = 0
        self._refusal = error_response(
            ApiError(
                503,
                f"over {limit} requests in flight: try again shortly",
                {"Retry-After": "1", "Connection": "close"},
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            if self.on_refused is not None:
                self.on_refused(scope["path"])
            await self._refusal(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
