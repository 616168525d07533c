"""Whether this member's place in its consumer group has settled, and what to do when it does
not (GROUP_STALL_S).

librdkafka reports the member's join state in its statistics (`cgrp.join_state`): `steady`
once a join has completed and its assignment is applied. A member caught in a rebalance that
never completes alternates `wait-join` and `wait-sync` for ever, whether or not it still
holds partitions, while its loop turns as usual; that is how a coordinator that keeps a
departed leader shows (docs/reliability.md). A member that holds no partition in a settled
group (more members than partitions) is idle, not stalled, so the clock is the join state's,
not the assignment's.

Unsettled for GROUP_STALL_S, the member closes its consumer and joins again once; unsettled
for as long again, it reports not live (`/healthz`), so that Kubernetes restarts it. Settled
again, it is live again and may rejoin again on the next stall.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Membership", "Step"]

#: The join state of a member whose join has completed and whose assignment is applied.
_STEADY = "steady"


class Step(enum.Enum):
    """What the loop should do about the membership now."""

    NONE = "none"
    REJOIN = "rejoin"
    NOT_LIVE = "not_live"


class Membership:
    """The member's clocks since subscribe: since it last settled, since it last held a
    partition; and the steps of the stall heal."""

    def __init__(self, bound_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.bound_s = bound_s
        self._clock = clock
        now = clock()
        self._settled_at = now
        self._held_at = now
        self._settled = False
        self._holding = False
        #: A rejoin was tried since the member last settled.
        self.rejoined = False
        #: Not live: unsettled for the bound after a rejoin as well.
        self.stalled = False

    def subscribed(self) -> None:
        """A new subscription (start, or a rejoin): unsettled and holding nothing until the
        join completes. The stall clock keeps running: a rejoin does not settle anything."""
        self._settled = False
        self.holding(False)

    def observe(self, statistics: Mapping[str, Any], holding: bool) -> None:
        """A librdkafka statistics document (`cgrp`), and whether partitions are held."""
        group = statistics.get("cgrp")
        if isinstance(group, Mapping):
            if group.get("join_state") == _STEADY:
                self.settled()
            else:
                self._leave_settled()
        self.holding(holding)

    def settled(self) -> None:
        """The join completed (an assignment arrived, or the statistics say `steady`)."""
        self._settled = True
        self._settled_at = self._clock()
        self.rejoined = False
        self.stalled = False

    def holding(self, holding: bool) -> None:
        now = self._clock()
        if holding or self._holding:
            self._held_at = now
        self._holding = holding

    def _leave_settled(self) -> None:
        if self._settled:
            self._settled = False
            self._settled_at = self._clock()

    def unsettled_s(self) -> float:
        """Seconds since the membership was last settled (0 while it is)."""
        return 0.0 if self._settled else max(0.0, self._clock() - self._settled_at)

    def unassigned_s(self) -> float:
        """Seconds since the member last held a partition (0 while it holds one)."""
        return 0.0 if self._holding else max(0.0, self._clock() - self._held_at)

    def step(self) -> Step:
        """REJOIN once the membership has been unsettled for the bound; NOT_LIVE once it has
        been unsettled for twice the bound with a rejoin tried (each returned once)."""
        unsettled = self.unsettled_s()
        if not self.rejoined and unsettled > self.bound_s:
            self.rejoined = True
            return Step.REJOIN
        if self.rejoined and not self.stalled and unsettled > 2 * self.bound_s:
            self.stalled = True
            return Step.NOT_LIVE
        return Step.NONE
