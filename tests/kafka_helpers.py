"""Helpers for tests against a real broker: workers' environments, producing, reading back."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from consumer.devkit.harness import worker_environment

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


def worker_env_for(
    topics: Any, bootstrap: str, model_path: Path, kafka: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A worker's environment for `topics` (anything with input, output, dlq and group), as
    operators set it (`consumer.devkit.harness.worker_environment`): `kafka` holds more
    librdkafka properties, passed as KAFKA_<NAME>."""
    settings = {
        "INPUT_TOPIC": topics.input,
        "OUTPUT_TOPIC": topics.output,
        "DLQ_TOPIC": topics.dlq,
        "GROUP_ID": topics.group,
        "MODEL_PATH": str(model_path),
        "METRICS_PORT": "0",
        "LOG_LEVEL": "INFO",
        "SHUTDOWN_TIMEOUT_S": "10",
    }
    return worker_environment(bootstrap, settings, kafka=kafka)


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
        value_of: Callable[[int], bytes] | None = None,
    ) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        #: The value of the n-th record (default: a message with id s<n>).
        self.value_of = value_of or (
            lambda n: orjson.dumps({"id": f"s{n}", "text": f"message number {n}"})
        )
        self.chunk, self.pause_s, self.total, self.keys = chunk, pause_s, total, keys
        self.sent: list[Sent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set() and (self.total is None or number < self.total):
            size = self.chunk if self.total is None else min(self.chunk, self.total - number)
            records = [
                (f"k{(number + i) % self.keys}".encode(), self.value_of(number + i), None)
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
