"""The group stall heal, as the loop runs it between batches (`consumer.stream.membership`
keeps the clocks and decides the step; this carries it out).

Unsettled for GROUP_STALL_S, the worker finishes and commits what is in flight, closes its
consumer (leaving the group) and subscribes with a new one: a new member id and a fresh join.
Unsettled for as long again, `/healthz` reports not live until the membership settles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.stream.delivery import Delivery
from consumer.stream.health import Health
from consumer.stream.keepalive import KeepAlive
from consumer.stream.membership import Membership, Step
from consumer.stream.metrics import Metrics
from consumer.stream.offsets import Offsets
from consumer.stream.ports import ConsumerLike
from consumer.stream.rebalance import Rebalance

__all__ = ["Regroup"]

log = get_logger(__name__)


class Regroup:
    """Watches the membership through the client's statistics and heals a stalled one."""

    def __init__(
        self,
        settings: Settings,
        membership: Membership,
        metrics: Metrics,
        health: Health,
        rebalance: Rebalance,
        delivery: Delivery,
        offsets: Offsets,
        keepalive: KeepAlive,
    ) -> None:
        self._settings = settings
        self.membership = membership
        self._metrics = metrics
        self._health = health
        self._rebalance = rebalance
        self._delivery = delivery
        self._offsets = offsets
        self._keepalive = keepalive

    def observe(self, statistics: Mapping[str, Any]) -> None:
        """A librdkafka statistics document: the join state, and the clocks as metrics."""
        membership = self.membership
        membership.observe(statistics, bool(self._rebalance.assigned))
        self._metrics.group_unsettled.set(membership.unsettled_s())
        self._metrics.group_unassigned.set(membership.unassigned_s())

    def mind(
        self,
        consumer: ConsumerLike,
        new_consumer: Callable[[], ConsumerLike],
        subscribe: Callable[[ConsumerLike], None],
    ) -> ConsumerLike:
        """Take the membership's step; returns the consumer the loop goes on with (a new one
        after a rejoin)."""
        membership, health, metrics = self.membership, self._health, self._metrics
        step = membership.step()
        if health.group_stalled and not membership.stalled:
            health.group_stalled = False
            metrics.group_stalled.set(0)
            log.info("group settled; live again")
        if step is Step.REJOIN:
            return self._rejoin(consumer, new_consumer, subscribe)
        if step is Step.NOT_LIVE:
            health.group_stalled = True
            metrics.group_stalled.set(1)
            log.error(
                "group stalled; not live",
                unsettled_s=round(membership.unsettled_s(), 1),
                group_stall_s=membership.bound_s,
            )
        return consumer

    def _rejoin(
        self,
        consumer: ConsumerLike,
        new_consumer: Callable[[], ConsumerLike],
        subscribe: Callable[[ConsumerLike], None],
    ) -> ConsumerLike:
        assigned = self._rebalance.assigned
        log.warning(
            "group stalled; joining again",
            unsettled_s=round(self.membership.unsettled_s(), 1),
            group_stall_s=self.membership.bound_s,
            partitions=sorted(p for _, p in assigned),
        )
        self._metrics.group_rejoins.inc()
        self._delivery.drain(self._settings.shutdown_timeout_s)
        self._offsets.commit(assigned, asynchronous=False)
        consumer.close()  # its revoke (or lost) callback forgets the partitions
        self._rebalance.forget_all()
        fresh = new_consumer()
        self._offsets.use(fresh)
        self._keepalive.use(fresh)
        subscribe(fresh)
        return fresh
