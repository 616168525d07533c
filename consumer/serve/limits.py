"""Rate limits per API key: a token bucket each, refilled at `rate` texts a second up to
`burst`. A request costs one token a text; one it cannot pay for is refused with the seconds
until it could be (HTTP 429, Retry-After)."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        #: key -> (tokens, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        """0.0 when `cost` tokens were taken; otherwise the seconds to wait (nothing taken).
        A cost above the burst can never be paid: it waits for a full bucket and is refused
        (the caller bounds texts a request below the burst)."""
        now = self._clock()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (min(cost, self.burst) - tokens) / self.rate if self.rate > 0 else float("inf")
