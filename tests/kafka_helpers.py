"""Helpers for tests against a real broker: workers as processes, producing, reading back."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from consumer.devkit.broker import EMBEDDED_CLIENT_PROPERTIES

REPO = Path(__file__).resolve().parents[1]
#: Test clients stay quiet about connections the broker or an outage test closes.
_QUIET = logging.getLogger("tests.librdkafka")
_QUIET.setLevel(logging.CRITICAL)

Headers = list[tuple[str, bytes | None]]
#: A record to produce: (key, value, headers).
Record = tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes | None]] | None]


@dataclass
class Sent:
    """A record as produced, with the partition and offset the broker gave it."""

    key: bytes | None
    value: bytes | None
    headers: Headers | None
    partition: int
    offset: int
    timestamp: int


def partition_ends(sent: Iterable[Sent]) -> dict[int, int]:
    """Per partition, the offset after the last record sent: where commits must end."""
    ends: dict[int, int] = {}
    for s in sent:
        ends[s.partition] = max(ends.get(s.partition, 0), s.offset + 1)
    return ends


def client_properties() -> dict[str, str]:
    """Extra librdkafka properties for clients of the broker under test."""
    return dict(EMBEDDED_CLIENT_PROPERTIES)


def worker_environment(
    topics: Any, bootstrap: str, model_path: Path, kafka: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A worker's environment for `topics` (anything with input, output, dlq and group), as
    operators set it: the test's own KAFKA_ variables dropped, the broker's client properties
    and `kafka` (librdkafka properties) passed as KAFKA_<NAME>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "INPUT_TOPIC": topics.input,
            "OUTPUT_TOPIC": topics.output,
            "DLQ_TOPIC": topics.dlq,
            "GROUP_ID": topics.group,
            "MODEL_PATH": str(model_path),
            "METRICS_PORT": "0",
            "LOG_LEVEL": "INFO",
            "SHUTDOWN_TIMEOUT_S": "10",
        }
    )
    for prop, value in {**client_properties(), **(kafka or {})}.items():
        env["KAFKA_" + prop.replace(".", "_").upper()] = value
    return env


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[Record],
    partition_of: Mapping[int, int] | None = None,
    config: Mapping[str, str] | None = None,
) -> list[Sent]:
    """Produce (key, value, headers); returns what the broker acknowledged, in order.
    `config`: more librdkafka properties (TLS, for one)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            "logger": _QUIET,
            **(config or {}),
        }
    )
    sent: list[Sent] = []
    failures: list[str] = []

    def reporter(headers: Headers | None) -> Callable[[object, object], None]:
        # Delivery reports do not carry headers: keep the ones that were sent.
        def report(error: object, message: object) -> None:
            if error is not None:
                failures.append(str(error))
                return
            _ts_type, ts = message.timestamp()  # type: ignore[attr-defined]
            sent.append(
                Sent(
                    message.key(),  # type: ignore[attr-defined]
                    message.value(),  # type: ignore[attr-defined]
                    headers,
                    message.partition(),  # type: ignore[attr-defined]
                    message.offset(),  # type: ignore[attr-defined]
                    ts,
                )
            )

        return report

    for number, (key, value, given) in enumerate(records):
        headers = None if given is None else list(given)
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": reporter(headers)}
        if headers:
            kwargs["headers"] = headers
        if partition_of is not None and number in partition_of:
            kwargs["partition"] = partition_of[number]
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0, "records left unacknowledged"
    assert not failures, failures
    return sent


@dataclass
class Output:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    timestamp: int

    def json(self) -> dict[str, object]:
        return orjson.loads(self.value or b"null")


def read_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    *,
    expect: int | None = None,
    timeout_s: float = 60.0,
    settle_s: float = 2.0,
    config: Mapping[str, str] | None = None,
) -> list[Output]:
    """Read a topic from the beginning until `expect` records came (then `settle_s` more,
    so that duplicates would show), or until nothing new arrives for `settle_s`."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{os.getpid()}-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "logger": _QUIET,
            **(config or {}),
        }
    )
    reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out: list[Output] = []
    deadline = time.monotonic() + timeout_s
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = reader.consume(1000, 0.2)
            for m in batch:
                topic_of, partition, offset = m.topic(), m.partition(), m.offset()
                if m.error() or topic_of is None or partition is None or offset is None:
                    continue
                # confluent-kafka returns headers as a list of pairs (its stubs allow a dict).
                headers = cast(Headers | None, m.headers())
                out.append(
                    Output(
                        topic_of,
                        partition,
                        offset,
                        m.key(),
                        m.value(),
                        headers,
                        m.timestamp()[1],
                    )
                )
            if batch:
                last_new = time.monotonic()
            idle = time.monotonic() - last_new
            if expect is not None and len(out) >= expect and idle >= settle_s:
                break
            if expect is None and idle >= settle_s:
                break
    finally:
        reader.close()
    return out


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": _QUIET})
    try:
        committed = reader.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
    finally:
        reader.close()
    return {tp.partition: tp.offset for tp in committed}


@dataclass
class WorkerProcess:
    """`python -m consumer run` as operators run it, with its log captured."""

    env: dict[str, str]
    log_path: Path
    #: Extra arguments of `run` (`--processes N`).
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] = field(init=False)

    def start(self) -> WorkerProcess:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", *self.args],
            env=self.env,
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, *names: str) -> list[dict[str, Any]]:
        """The worker's JSON log lines in order (those of the events named, if any)."""
        found = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                event = orjson.loads(line)
                if not names or event.get("event") in names:
                    found.append(event)
        return found

    def wait_for_log(self, needle: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not logged within {timeout_s} s:\n{self.log()[-3000:]}")

    def http_port(self) -> int:
        self.wait_for_log("http server listening")
        return int(self.events("http server listening")[0]["port"])

    def probe(self, path: str) -> tuple[int, bytes]:
        """GET a path of the worker's HTTP server: (status, body)."""
        url = f"http://127.0.0.1:{self.http_port()}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def terminate(self, timeout_s: float = 30.0) -> tuple[int, float]:
        """SIGTERM; returns the exit code and the seconds it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout_s)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


class BackgroundStream:
    """Produces keyed records in chunks from a thread until stopped (or `total` are sent),
    so that workers can be killed, started and stopped while the stream flows."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        chunk: int = 200,
        pause_s: float = 0.05,
        total: int | None = None,
        keys: int = 16,
    ) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.chunk, self.pause_s, self.total, self.keys = chunk, pause_s, total, keys
        self.sent: list[Sent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set() and (self.total is None or number < self.total):
            size = self.chunk if self.total is None else min(self.chunk, self.total - number)
            records = [
                (
                    f"k{(number + i) % self.keys}".encode(),
                    orjson.dumps({"id": f"s{number + i}", "text": f"message number {number + i}"}),
                    None,
                )
                for i in range(size)
            ]
            self.sent.extend(produce(self.bootstrap, self.topic, records))
            number += size
            time.sleep(self.pause_s)

    def start(self) -> BackgroundStream:
        self._thread.start()
        return self

    def stop(self) -> list[Sent]:
        self._stop.set()
        self._thread.join()
        return self.sent

    def wait(self, timeout_s: float = 120) -> list[Sent]:
        self._thread.join(timeout_s)
        return self.stop()
