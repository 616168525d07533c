"""Staying in the consumer group while a batch is classified or room is awaited.

librdkafka leaves the group when `poll`/`consume` is not called within
`max.poll.interval.ms`. During a long batch the worker pauses its partitions and polls: that
serves the group protocol and resets the poll timer without taking in more records.
"""

from __future__ import annotations

from collections.abc import Callable, Set

from confluent_kafka import KafkaError, TopicPartition

from consumer.stream.offsets import Offsets
from consumer.stream.ports import ConsumerLike, TopicPartitionKey

__all__ = ["KEEP_ALIVE_AFTER_S", "POLL_SLICE_S", "KeepAlive", "keep_alive_after"]

#: A batch that takes longer than this (a slow model, a slow broker) starts keep-alive polls,
#: or after a quarter of `max.poll.interval.ms` when that is sooner (`keep_alive_after`).
#: Not sooner: pausing drops the records librdkafka has prefetched for the paused partitions
#: (they are fetched again on resume). Done for every batch, that cut the throughput of a
#: worker starved of CPU to a fraction, and of a worker serving the transformer (1.3 s a
#: batch of 500) by a third: the refetch after each batch took about 0.7 s on the embedded
#: broker (docs/benchmarks.md). Rebalance callbacks wait at most this long for a batch.
KEEP_ALIVE_AFTER_S = 5.0
#: The longest one wait (for the model's thread, for delivery reports, for room in the
#: producer's queue) lasts before the loop looks again whether a keep-alive poll is due.
POLL_SLICE_S = 0.2


def keep_alive_after(max_poll_interval_ms: str | float | None) -> float:
    """When a batch starts keep-alive polls: KEEP_ALIVE_AFTER_S, or a quarter of the
    configured `max.poll.interval.ms` when that is sooner."""
    if max_poll_interval_ms in (None, ""):
        return KEEP_ALIVE_AFTER_S
    return min(KEEP_ALIVE_AFTER_S, float(max_poll_interval_ms) / 1000 / 4)


class KeepAlive:
    """The partitions paused for the batch in flight, and the polls that keep the worker in
    the group meanwhile."""

    def __init__(
        self,
        consumer: ConsumerLike,
        assigned: Set[TopicPartitionKey],
        offsets: Offsets,
        turn: Callable[[], None],
        on_consume_error: Callable[[KafkaError], None],
        after_s: float = KEEP_ALIVE_AFTER_S,
    ) -> None:
        self._consumer = consumer
        #: A batch (or a wait for room) longer than this starts keep-alive polls.
        self.after_s = after_s
        #: The partitions this worker owns (`Rebalance` keeps it; read only here).
        self._assigned = assigned
        self._offsets = offsets
        #: The loop's heartbeat (health, metrics): a keep-alive poll is a turn too.
        self._turn = turn
        self._on_consume_error = on_consume_error
        self._paused: list[TopicPartition] = []

    def use(self, consumer: ConsumerLike) -> None:
        """The consumer that replaced a closed one (a rejoin after a group stall)."""
        self._consumer = consumer

    def poll(self) -> None:
        """Pause every assigned partition (once per batch) and poll: this serves the group
        protocol and resets the poll timer without taking in more records."""
        self._turn()
        consumer = self._consumer
        if not self._paused:
            self._paused = [TopicPartition(t, p) for t, p in sorted(self._assigned)]
            if self._paused:
                consumer.pause(self._paused)
        message = consumer.poll(0)
        if message is None:
            return
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                self._on_consume_error(error)
            return
        # A record of a partition assigned meanwhile: read it again after this batch.
        consumer.seek(TopicPartition(message.topic(), message.partition(), message.offset()))
        if (message.topic(), message.partition()) in self._assigned:
            tp = TopicPartition(message.topic(), message.partition())
            consumer.pause([tp])
            self._paused.append(tp)

    def end(self) -> None:
        """The batch is done: resume what `poll` paused, except partitions no longer owned
        and those waiting for a retry."""
        if not self._paused:
            return
        paused, self._paused = self._paused, []
        again = [
            tp
            for tp in paused
            if (tp.topic, tp.partition) in self._assigned
            and not self._offsets.waiting_for_retry((tp.topic, tp.partition))
        ]
        if again:
            self._consumer.resume(again)

    def admit(self, partitions: list[TopicPartition]) -> None:
        """Newly assigned partitions: paused like the others while a batch is in flight."""
        if not partitions:
            return
        if self._paused:
            # A batch is in flight: these wait for it like the others.
            self._consumer.pause(partitions)
            self._paused.extend(partitions)
        else:
            # librdkafka keeps a partition's pause across losing and regaining it (a
            # backoff that a lost session cut short): start every assignment resumed.
            self._consumer.resume(partitions)
