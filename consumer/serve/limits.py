"""The API's limits: the size of a request (`ServeLimits`), and the rate per API key, a token
bucket each, refilled at `rate` texts a second up to `burst`. A request costs one token a
text; one it cannot pay for is refused with the seconds until it could be (HTTP 429,
Retry-After)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter", "ServeLimits"]


@dataclass(frozen=True, slots=True)
class ServeLimits:
    """Beyond these a request is answered 413 (a body, a text, a count of texts), 408 (a body
    not received in time) or 503 (requests in flight: `max_in_flight`)."""

    max_body_bytes: int = 1_048_576
    max_texts: int = 256
    max_text_chars: int = 10_000
    body_timeout_s: float = 10.0
    max_in_flight: int = 512


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
