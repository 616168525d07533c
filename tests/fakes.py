"""Fakes typed against the Protocols the worker uses (unit tests only; no broker), and the
builders of a worker around them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError, TopicPartition

from consumer.config.settings import Settings
from consumer.model.classifier import Classifier, Policy
from consumer.stream.shadow import Shadow
from consumer.stream.worker import BatchResult, Worker


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
    #: Partitions assigned, through the `on_assign` callback, by the first consume or poll
    #: after subscribing (librdkafka serves rebalance callbacks from within those calls).
    assignment: list[tuple[str, int]] = field(default_factory=list)
    _to_assign: list[tuple[str, int]] = field(default_factory=list)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks
        self._to_assign = list(self.assignment)

    def _rebalance(self) -> None:
        if self._to_assign:
            partitions = [TopicPartition(t, p) for t, p in self._to_assign]
            self._to_assign = []
            self.callbacks["on_assign"](self, partitions)

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self._rebalance()
        return self.batches.pop(0) if self.batches else []

    def commit(self, offsets: Sequence[TopicPartition] = (), asynchronous: bool = True) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))

    def poll(self, timeout: float) -> FakeMessage | None:
        self._rebalance()
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
    #: The error callback the worker gave its factory (librdkafka's `error_cb`).
    error_cb: Any = None
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


# -- builders ---------------------------------------------------------------------------

POISON = "<<poison>>"


class PoisonModel:
    """A model that raises on any batch containing the marker, like a real bug would."""

    classes_ = ("benign", "malicious")

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        if any(POISON in text for text in texts):
            raise RuntimeError("model cannot handle this input")
        return [[0.2, 0.8] if "bad" in text else [0.9, 0.1] for text in texts]


def fake_classifier() -> Classifier:
    return Classifier(
        name="fake",
        version="1.2.3",
        labels=("benign", "malicious"),
        policy=Policy(positive_label="malicious", threshold=0.5),
        estimator=PoisonModel(),
    )


def producers(*made: FakeProducer) -> Any:
    """A producer factory that hands out `made` in turn (a replacement after the first),
    each with the error callback it was given."""
    queue = list(made)

    def factory(**callbacks: Any) -> FakeProducer:
        producer = queue.pop(0)
        producer.error_cb = callbacks.get("error_cb")
        return producer

    return factory


def make_worker(
    batches: list[list[FakeMessage]],
    producer: FakeProducer | None = None,
    *,
    replacements: Sequence[FakeProducer] = (),
    connect: bool = True,
    classifier: Classifier | None = None,
    shadow: Shadow | None = None,
) -> tuple[Worker, FakeConsumer, FakeProducer]:
    """A worker on fakes, connected and owning partitions 0..2 of topic `in` (unless
    `connect` is False: then `run()` connects, and the consumer assigns them on its first
    consume)."""
    consumer = FakeConsumer(batches=batches)
    producer = producer if producer is not None else FakeProducer()
    settings = Settings(
        batch_max_messages=100, batch_max_wait_ms=1, max_text_chars=50, max_value_bytes=200
    )
    worker = Worker(
        settings,
        classifier or fake_classifier(),
        lambda **_: consumer,
        producers(producer, *replacements),
        shadow=shadow,
    )
    if connect:
        worker.connect()
        worker.rebalance.on_assign(consumer, [TopicPartition("in", p) for p in range(3)])
    else:
        consumer.assignment = [("in", p) for p in range(3)]
    return worker, consumer, producer


def stop_after_first_batch(worker: Worker) -> None:
    """Make `worker.run()` stop once its first batch is processed."""
    original = worker.process

    def process_then_stop(records: Sequence[Any]) -> BatchResult:
        result = original(records)
        worker.stop()
        return result

    worker.process = process_then_stop  # type: ignore[method-assign]


def record(offset: int, value: bytes | None, partition: int = 0) -> FakeMessage:
    return FakeMessage(value, _key=f"k{offset}".encode(), _partition=partition, _offset=offset)


def text(value: str) -> bytes:
    return orjson.dumps({"text": value})


def verdict_offset(produced: Produced) -> int:
    """The input offset a produced verdict names."""
    return int(orjson.loads(produced.value or b"")["source"]["offset"])
