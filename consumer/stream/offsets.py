"""Offsets and retries: what each partition may commit, and the one place that commits.

Each partition is committed up to its first record whose output is not acknowledged
(`consumer.stream.acks`), never past it. A partition with a failed output is paused at once
(held), rewound to that record once its other outputs are settled, and resumed after a
backoff that doubles while delivery keeps failing; the other partitions keep moving.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Set
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumer.config.logs import get_logger
from consumer.stream.acks import AckTracker
from consumer.stream.metrics import Metrics
from consumer.stream.ports import ConsumerLike, TopicPartitionKey

__all__ = ["Backoff", "Offsets"]

log = get_logger(__name__)

_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 30.0
#: The retry time of a partition held for a rewind that waits for its other outputs.
_NEVER = float("inf")


@dataclass(slots=True)
class Backoff:
    attempts: int
    retry_at: float
    #: Paused until `retry_at`; False once resumed for the retry (the count stays until a
    #: batch of the partition is delivered).
    waiting: bool = True


class Offsets:
    """Per partition: the next offset to commit (everything before it is acknowledged), the
    last one committed, and the backoff of a partition with a failed output. The only caller
    of `consumer.commit`."""

    def __init__(
        self,
        consumer: ConsumerLike,
        acks: AckTracker,
        assigned: Set[TopicPartitionKey],
        metrics: Metrics,
    ) -> None:
        self._consumer = consumer
        self._acks = acks
        #: The partitions this worker owns (`Rebalance` keeps it; read only here).
        self._assigned = assigned
        self._metrics = metrics
        # Next offset to commit per partition: everything before it is acknowledged.
        self._finished: dict[TopicPartitionKey, int] = {}
        self._committed: dict[TopicPartitionKey, int] = {}
        self._backoff: dict[TopicPartitionKey, Backoff] = {}

    def use(self, consumer: ConsumerLike) -> None:
        """The consumer that replaced a closed one (a rejoin after a group stall)."""
        self._consumer = consumer

    @property
    def backoffs(self) -> dict[TopicPartitionKey, Backoff]:
        """The partitions held or backing off after a failed output (a copy)."""
        return dict(self._backoff)

    def waiting_for_retry(self, key: TopicPartitionKey) -> bool:
        backoff = self._backoff.get(key)
        return backoff is not None and backoff.waiting

    def rewind_pending(self) -> set[TopicPartitionKey]:
        """Partitions with a failed output whose rewind waits for their other outputs: their
        records already fetched are skipped (read again from the rewind point)."""
        if not self._backoff:
            return set()
        return {key for key, b in self._backoff.items() if b.waiting and b.retry_at == _NEVER}

    def in_flight(self, keys: Iterable[TopicPartitionKey]) -> bool:
        """Whether any of these partitions has outputs not yet acknowledged or failed."""
        return any(self._acks.unsettled(key) for key in keys)

    def settle(self) -> None:
        """Advance each partition to its first unacknowledged record and commit; pause a
        partition with a failed output, and rewind it there once its other outputs are
        settled."""
        acks = self._acks
        moved: set[TopicPartitionKey] = set()
        for track in acks.tracks():
            key = track.key
            position = acks.advance(key)
            if position is not None and position > self._finished.get(key, -1):
                self._finished[key] = position
                moved.add(key)
            if track.first_failed is None:
                if position is not None:
                    backoff = self._backoff.get(key)
                    if backoff is not None and not backoff.waiting:
                        del self._backoff[key]  # the retry got through
                continue
            backoff = self._backoff.get(key)
            if backoff is None or backoff.retry_at != _NEVER:
                self._hold(key)
            if track.unsettled == 0:
                self._rewind(key, track.first_failed)
        if moved:
            self.commit(moved, asynchronous=True)

    def resume_due(self) -> None:
        """Resume the partitions whose backoff has passed: their records are read again."""
        if not self._backoff:
            return
        now = time.monotonic()
        due = [key for key, b in self._backoff.items() if b.waiting and b.retry_at <= now]
        if due:
            for key in due:
                self._backoff[key].waiting = False
            self._metrics.paused_partitions.set(self._waiting_count())
            assigned = self._assigned
            self._consumer.resume([TopicPartition(t, p) for t, p in due if (t, p) in assigned])

    def commit(self, keys: Iterable[TopicPartitionKey], *, asynchronous: bool) -> None:
        """Commit what is finished of these partitions and not committed yet."""
        finished, committed = self._finished, self._committed
        offsets = [
            TopicPartition(topic, partition, finished[(topic, partition)])
            for topic, partition in sorted(keys)
            if (topic, partition) in finished
            and committed.get((topic, partition)) != finished[(topic, partition)]
        ]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as exc:
            # A commit can fail when the group rebalances; the new owner starts from the last
            # commit that succeeded, so this costs duplicates, never a lost record.
            log.warning("commit failed", error=str(exc.args[0]), partitions=len(offsets))
            self._metrics.commit_failures.inc()
            return
        if not asynchronous:
            for tp in offsets:
                committed[(tp.topic, tp.partition)] = tp.offset

    def on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The consumer's commit callback (the result of an asynchronous commit)."""
        if error is not None:
            if error.code() != KafkaError._NO_OFFSET:
                log.warning("commit failed", error=error.str())
                self._metrics.commit_failures.inc()
            return
        for tp in partitions:
            if tp.error is None and tp.offset >= 0:
                self._committed[(tp.topic, tp.partition)] = tp.offset

    def forget(self, keys: Iterable[TopicPartitionKey]) -> None:
        """Drop every trace of partitions this worker no longer owns."""
        for key in keys:
            self._finished.pop(key, None)
            self._committed.pop(key, None)
            self._backoff.pop(key, None)
            self._acks.forget(key)

    def _waiting_count(self) -> int:
        return sum(1 for b in self._backoff.values() if b.waiting)

    def _hold(self, key: TopicPartitionKey) -> None:
        """Stop taking in records of a partition with a failed output until it is rewound."""
        previous = self._backoff.get(key)
        attempts = previous.attempts + 1 if previous else 1
        self._backoff[key] = Backoff(attempts, _NEVER)
        self._metrics.paused_partitions.set(self._waiting_count())
        if key in self._assigned:
            self._consumer.pause([TopicPartition(key[0], key[1])])

    def _rewind(self, key: TopicPartitionKey, first_failed: int) -> None:
        """Read a partition again from its first record whose output failed, after a
        backoff; the outputs tracked after that record are forgotten (redone)."""
        self._acks.forget(key)
        if first_failed > self._finished.get(key, 0):
            self._finished[key] = first_failed
        backoff = self._backoff[key]
        delay = min(_BACKOFF_MAX_S, _BACKOFF_START_S * 2 ** (backoff.attempts - 1))
        backoff.retry_at = time.monotonic() + delay
        if key not in self._assigned:
            return
        self._consumer.seek(TopicPartition(key[0], key[1], first_failed))
        self._consumer.pause([TopicPartition(key[0], key[1])])
        log.warning(
            "partition paused to retry undelivered outputs",
            topic=key[0],
            partition=key[1],
            offset=first_failed,
            attempt=backoff.attempts,
            retry_in_s=delay,
        )
