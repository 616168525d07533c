"""Rebalances: the partitions this worker owns, and what it does when they change.

Revoked partitions get their in-flight outputs awaited (briefly) and a synchronous commit of
what is finished; lost partitions get nothing, since another member may own them already.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.stream.delivery import Delivery
from consumer.stream.health import Health
from consumer.stream.keepalive import KeepAlive
from consumer.stream.membership import Membership
from consumer.stream.metrics import Metrics
from consumer.stream.offsets import Offsets
from consumer.stream.ports import TopicPartitionKey

__all__ = ["Rebalance"]

log = get_logger(__name__)

#: Outputs in flight are awaited on revoke for at most this long (then the new owner redoes
#: them: duplicates, never a loss).
_REVOKE_DRAIN_S = 5.0


class Rebalance:
    """The consumer's rebalance callbacks (`on_assign`, `on_revoke`, `on_lost`). The only
    one that changes `assigned`; the other steps read it."""

    def __init__(
        self,
        settings: Settings,
        assigned: set[TopicPartitionKey],
        delivery: Delivery,
        offsets: Offsets,
        keepalive: KeepAlive,
        metrics: Metrics,
        health: Health,
        membership: Membership,
    ) -> None:
        self._settings = settings
        self.assigned = assigned
        self._delivery = delivery
        self._offsets = offsets
        self._keepalive = keepalive
        self._metrics = metrics
        self._health = health
        self._membership = membership

    def on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.assigned.update((tp.topic, tp.partition) for tp in partitions)
        self._health.group_joined = True
        self._membership.settled()
        self._membership.holding(bool(self.assigned))
        self._health.broker_reachable = True
        self._metrics.rebalances.labels("assign").inc()
        self._metrics.assigned_partitions.set(len(self.assigned))
        self._keepalive.admit([TopicPartition(tp.topic, tp.partition) for tp in partitions])
        log.info("partitions assigned", partitions=sorted(tp.partition for tp in partitions))

    def on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        # Outputs already produced are awaited (briefly) so that their records count as
        # finished; a batch still being classified is not produced for these partitions, and
        # their next owner redoes it (at-least-once).
        if self._offsets.in_flight(keys):
            self._delivery.drain(min(_REVOKE_DRAIN_S, self._settings.shutdown_timeout_s))
        self._offsets.commit(keys, asynchronous=False)
        self._forget(keys)
        self._metrics.rebalances.labels("revoke").inc()
        log.info("partitions revoked", partitions=sorted(p for _, p in keys))

    def on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        # Another member may own these already: committing could move its offsets backwards.
        self._forget(keys)
        self._health.group_joined = False
        self._metrics.rebalances.labels("lost").inc()
        log.warning("partitions lost", partitions=sorted(p for _, p in keys))

    def forget_all(self) -> None:
        """A closed consumer holds nothing: whatever its callbacks did not revoke is forgotten."""
        self._forget(set(self.assigned))

    def _forget(self, keys: set[TopicPartitionKey]) -> None:
        self.assigned.difference_update(keys)
        self._membership.holding(bool(self.assigned))
        self._metrics.assigned_partitions.set(len(self.assigned))
        self._metrics.forget_partitions(keys)
        self._offsets.forget(keys)
