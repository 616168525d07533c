"""HTTP on METRICS_PORT: `/metrics` (Prometheus), `/healthz` (the loop is alive and its group
membership not stalled) and `/readyz` (model loaded, group joined, broker reachable)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from consumer.config.logs import get_logger

__all__ = ["Health", "HealthServer"]

log = get_logger(__name__)

#: /healthz fails when the loop has not turned for this long. The loop turns at least every
#: BATCH_MAX_WAIT_MS, and every 0.2 s while a batch is classified or delivered, so only a hung
#: process stays silent this long.
LOOP_STALL_S = 60.0


@dataclass(slots=True)
class Health:
    """What the probes report; the worker updates it from its loop and callbacks."""

    model_loaded: bool = False
    group_joined: bool = False
    broker_reachable: bool = False
    last_turn: float = field(default_factory=time.monotonic)
    stall_after_s: float = LOOP_STALL_S
    #: The group membership has not settled for GROUP_STALL_S after a rejoin either
    #: (`consumer.stream.membership`): only a restart may help.
    group_stalled: bool = False

    def live(self) -> tuple[bool, dict[str, Any]]:
        idle = time.monotonic() - self.last_turn
        details = {"loop_idle_seconds": round(idle, 3), "group_stalled": self.group_stalled}
        return idle < self.stall_after_s and not self.group_stalled, details

    def ready(self) -> tuple[bool, dict[str, Any]]:
        live, details = self.live()
        checks = {
            "model_loaded": self.model_loaded,
            "group_joined": self.group_joined,
            "broker_reachable": self.broker_reachable,
            "loop_alive": live,
        }
        return all(checks.values()), {**checks, **details}


class HasRegistry(Protocol):
    """What the server exposes: a prometheus_client registry (a worker's `Metrics`, or the
    feedback consumer's)."""

    registry: CollectorRegistry


class HealthServer:
    """A small threaded HTTP server; port 0 picks a free port (several workers, one host)."""

    def __init__(self, health: Health, metrics: HasRegistry, port: int, host: str = "0.0.0.0"):  # noqa: S104 - probes and scrapes come from outside the pod
        self.health = health
        self.metrics = metrics
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(server.metrics.registry), CONTENT_TYPE_LATEST)
                elif path in {"/healthz", "/readyz"}:
                    check = server.health.live if path == "/healthz" else server.health.ready
                    ok, details = check()
                    body = orjson.dumps({"status": "ok" if ok else "fail", **details})
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b'{"status": "not found"}', "application/json")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # probes every few seconds would drown the worker's own logs

        return Handler

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("http server listening", port=self.port, paths=["/metrics", "/healthz", "/readyz"])
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
