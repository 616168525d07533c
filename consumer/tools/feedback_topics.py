"""How the feedback consumer reads its topics: consumers that commit only when told, the
verdict topic from a point in time, and the replay that tells a new process what an earlier
one already counted (`consumer.tools.feedback` explains why each decision counts once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from confluent_kafka import OFFSET_END, Consumer, KafkaError, TopicPartition

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.quality.feedback import VerdictIndex

__all__ = [
    "CLOCK_SKEW_S",
    "REPLAY_STALL_S",
    "FeedbackError",
    "Remembering",
    "Replaying",
    "at_end",
    "is_eof",
    "open_verdicts",
    "reader",
    "replay",
    "replay_ranges",
    "topic_partitions",
]

log = get_logger(__name__)

#: How much earlier than its verdict a decision may be timestamped (the workers' and the
#: moderation tool's clocks differ): a replay starts this much (and GRACE_S) before the oldest
#: indexed verdict.
CLOCK_SKEW_S = 300.0
#: A replay that reads nothing for this long (the broker is gone) stops the process.
REPLAY_STALL_S = 60.0


class FeedbackError(RuntimeError):
    """The feedback consumer cannot start (no FEEDBACK_TOPIC, a topic that does not exist)."""


class Remembering(Protocol):
    """What a replay needs of the joiner (`FeedbackJoiner`): its index, its grace period, and
    a way to remember a decision without counting it."""

    index: VerdictIndex
    grace_s: float

    def remember(self, record: Any) -> None: ...


def reader(settings: Settings, purpose: str, *, eof: bool = False) -> Consumer:
    """A consumer that commits only when told, in the group `<GROUP_ID>.<purpose>`; an offset
    gone by retention resets to the earliest one still there. `eof`: it reports the end of
    each partition it reaches."""
    return Consumer(
        {
            **settings.common_client_config(),
            "group.id": f"{settings.group_id}.{purpose}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": eof,
        }
    )


def topic_partitions(consumer: Consumer, topic: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise FeedbackError(f"topic {topic} does not exist")
    return sorted(metadata.partitions)


def open_verdicts(settings: Settings, since_s: float, group_suffix: str) -> Consumer:
    """A consumer assigned to every verdict partition from `since_s` (Unix seconds)."""
    consumer = reader(settings, group_suffix)
    topic = settings.output_topic
    partitions = topic_partitions(consumer, topic)
    starts = consumer.offsets_for_times(
        [TopicPartition(topic, p, int(since_s * 1000)) for p in partitions], timeout=10
    )
    # -1: no record that recent yet, so start at the end.
    consumer.assign(
        [
            TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
            for tp in starts
        ]
    )
    return consumer


def at_end(consumer: Consumer) -> bool:
    """Whether every assigned partition has been read up to its high watermark as the last
    fetch response gave it (right on every broker, where ListOffsets is not always)."""
    assigned = consumer.assignment()
    for position in consumer.position(assigned):
        _, high = consumer.get_watermark_offsets(
            TopicPartition(position.topic, position.partition), cached=True
        )
        if high < 0:
            return False  # no fetch response for it yet
        if 0 <= position.offset < high:
            return False
    return True


def replay_ranges(
    consumer: Any, partitions: Sequence[TopicPartition], since_s: float
) -> list[tuple[TopicPartition, int]]:
    """The records an earlier run counted that a decision still to come could repeat: for each
    partition, from its first record since `since_s` (Unix seconds) to the group's committed
    offset. A partition with none (never committed, or nothing that recent before the commit)
    is left out."""
    committed = {
        (tp.topic, tp.partition): tp.offset for tp in consumer.committed(partitions, timeout=10)
    }
    firsts = consumer.offsets_for_times(
        [TopicPartition(tp.topic, tp.partition, int(since_s * 1000)) for tp in partitions],
        timeout=10,
    )
    ranges = []
    for first in firsts:
        done = committed.get((first.topic, first.partition), -1)
        if 0 <= first.offset < done:  # offset -1: no record that recent
            ranges.append((TopicPartition(first.topic, first.partition, first.offset), done))
    return ranges


def replay(
    consumer: Any,
    ranges: Sequence[tuple[TopicPartition, int]],
    remember: Callable[[Any], None],
    stall_s: float = REPLAY_STALL_S,
) -> int:
    """Read each range (start, end offset) with `consumer`, which reports partition ends, and
    hand each record in it to `remember`; returns how many were read."""
    left = {(tp.topic, tp.partition): end for tp, end in ranges}
    consumer.assign([tp for tp, _ in ranges])
    read, last_read = 0, time.monotonic()
    while left:
        records = consumer.consume(500, 0.2)
        for record in records:
            key = (record.topic(), record.partition())
            end = left.get(key)
            if end is None:
                continue
            if is_eof(record):
                left.pop(key)  # the end of the partition: nothing more before the commit
            elif record.error() is None:
                if record.offset() < end:
                    remember(record)
                    read += 1
                if record.offset() + 1 >= end:
                    left.pop(key)
        if records:
            last_read = time.monotonic()
        elif time.monotonic() - last_read > stall_s:
            raise FeedbackError(f"replaying feedback read nothing for {stall_s:.0f} s")
    return read


class Replaying:
    """The feedback consumer's `on_assign`: before the partitions are read from the group's
    committed offsets (which the client does once this returns), what an earlier run counted
    in them is replayed by a consumer from `open_reader`, so that a later duplicate is one.

    A failure is kept in `failure` for the loop to raise: confluent-kafka garbles an
    exception raised out of a rebalance callback."""

    def __init__(self, joiner: Remembering, open_reader: Callable[[], Any]) -> None:
        self._joiner = joiner
        self._open_reader = open_reader
        self.failure: Exception | None = None

    def __call__(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        try:
            read = self._replay(consumer, partitions)
        except Exception as exc:  # the loop raises it, out of the callback
            self.failure = exc
            return
        log.info(
            "feedback partitions assigned",
            partitions=sorted(tp.partition for tp in partitions),
            replayed=read,
        )

    def _replay(self, consumer: Any, partitions: list[TopicPartition]) -> int:
        oldest = self._joiner.index.oldest_s
        since_s = (time.time() if oldest is None else oldest) - self._joiner.grace_s
        ranges = replay_ranges(consumer, partitions, since_s - CLOCK_SKEW_S)
        if not ranges:
            return 0
        reader = self._open_reader()
        try:
            return replay(reader, ranges, self._joiner.remember)
        finally:
            reader.close()


def is_eof(record: Any) -> bool:
    error = record.error()
    return error is not None and error.code() == KafkaError._PARTITION_EOF
