"""The parts of the Kafka clients the loop and its collaborators use, as Protocols.

confluent-kafka's `Consumer` and `Producer` satisfy them; unit tests pass plain fakes
(`tests/fakes.py`) and only integration tests need a broker.
"""

from __future__ import annotations

from typing import Any, Protocol

from confluent_kafka import TopicPartition

from consumer.stream.codec import KafkaRecord

__all__ = ["ConsumerLike", "ProducerLike", "TopicPartitionKey", "key_of"]

TopicPartitionKey = tuple[str, int]


class ConsumerLike(Protocol):
    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...
    def consume(self, num_messages: int, timeout: float) -> list[Any]: ...
    def poll(self, timeout: float) -> Any: ...
    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> Any: ...
    def seek(self, partition: TopicPartition) -> None: ...
    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def close(self) -> None: ...


class ProducerLike(Protocol):
    def __len__(self) -> int: ...
    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...


def key_of(record: KafkaRecord) -> TopicPartitionKey:
    """The partition of an input record (for the rare paths: the hot path inlines it)."""
    return (str(record.topic()), int(record.partition() or 0))
