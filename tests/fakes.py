"""Fakes typed against the Protocols the worker uses (unit tests only; no broker)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, TopicPartition


@dataclass
class FakeMessage:
    _value: bytes | None
    _key: bytes | None = None
    _topic: str = "in"
    _partition: int = 0
    _offset: int = 0
    _headers: list[tuple[str, bytes | None]] | None = None
    _timestamp: tuple[int, int] = (1, 1_700_000_000_000)
    _error: KafkaError | None = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes | None]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return self._timestamp

    def error(self) -> KafkaError | None:
        return self._error


@dataclass
class FakeConsumer:
    batches: list[list[FakeMessage]] = field(default_factory=list)
    commits: list[list[tuple[str, int, int]]] = field(default_factory=list)
    seeks: list[tuple[str, int, int]] = field(default_factory=list)
    callbacks: dict[str, Any] = field(default_factory=dict)
    closed: bool = False
    paused: set[tuple[str, int]] = field(default_factory=set)
    polled: list[FakeMessage] = field(default_factory=list)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        return self.batches.pop(0) if self.batches else []

    def commit(self, offsets: Sequence[TopicPartition] = (), asynchronous: bool = True) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))

    def poll(self, timeout: float) -> FakeMessage | None:
        return self.polled.pop(0) if self.polled else None

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        self.paused.update((tp.topic, tp.partition) for tp in partitions)

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        self.paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def close(self) -> None:
        self.closed = True


@dataclass
class Produced:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None
    timestamp: int | None


@dataclass
class FakeProducer:
    """Acknowledges everything on flush, except records `fail_when` matches: those fail with
    `error_code`."""

    fail_when: Any = None
    error_code: int = KafkaError._MSG_TIMED_OUT
    #: poll() reports nothing (the broker has not answered yet); `release` or flush() does.
    hold: bool = False
    produced: list[Produced] = field(default_factory=list)
    _pending: list[tuple[Any, Produced]] = field(default_factory=list)

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int = -1,
        on_delivery: Any = None,
        *,
        headers: list[tuple[str, bytes | None]] | None = None,
        timestamp: int | None = None,
    ) -> None:
        """confluent-kafka's signature: positional or keyword arguments."""
        assert partition == -1, "the worker lets the partitioner choose"
        record = Produced(topic, key, value, headers, timestamp)
        self._pending.append((on_delivery, record))

    def __len__(self) -> int:
        return len(self._pending)

    def poll(self, timeout: float) -> int:
        if self.hold:
            return 0
        return self.flush(timeout)

    def flush(self, timeout: float) -> int:
        return self.release()

    def release(self, which: Any = None) -> int:
        """Report the pending records that `which` matches (all by default), in order."""
        pending = [(c, r) for c, r in self._pending if which is None or which(r)]
        self._pending = [(c, r) for c, r in self._pending if not (which is None or which(r))]
        for callback, record in pending:
            # Like librdkafka's report: the message as produced (no offset on failure).
            message = FakeMessage(record.value, record.key, record.topic, 0, -1, record.headers)
            if self.fail_when is not None and self.fail_when(record):
                callback(KafkaError(self.error_code), message)
            else:
                self.produced.append(record)
                if callback:
                    callback(None, message)
        return len(self._pending)
