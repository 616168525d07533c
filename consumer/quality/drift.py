"""Score drift: the population stability index (PSI) of a recent window of verdict scores
against the distribution the model produced on its own out-of-fold training rows.

The score is the positive label's probability for a binary model with a positive label, the
top label's probability otherwise. A model folder's manifest keeps the baseline as quantile
bins of those scores (`score_baseline`: inner edges and each bin's share), written at
training time; the worker bins each batch's scores with the same edges and keeps the counts
of a sliding time window, bounded in memory by one small array per batch.

    PSI = sum over bins of (observed - expected) * ln(observed / expected)

Rules of thumb for PSI: under 0.1 the population is stable, 0.1 to 0.25 is a moderate shift,
above 0.25 a significant one (docs/operations.md, "Score drift").
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

__all__ = ["BASELINE_BINS", "DriftWindow", "ScoreBaseline", "WindowState", "psi"]

#: Quantile bins of the baseline: ten, as PSI is usually computed.
BASELINE_BINS = 10

#: A share is floored at this before the logarithm, so an empty bin gives a large but finite
#: contribution instead of an infinite one.
_SHARE_FLOOR = 1e-4


def psi(expected: np.ndarray, observed_counts: np.ndarray) -> float:
    """Population stability index of observed bin counts against expected shares."""
    total = float(observed_counts.sum())
    if total <= 0:
        return math.nan
    observed = np.maximum(observed_counts / total, _SHARE_FLOOR)
    expected = np.maximum(np.asarray(expected, dtype=np.float64), _SHARE_FLOOR)
    return float(np.sum((observed - expected) * np.log(observed / expected)))


@dataclass(frozen=True, slots=True)
class ScoreBaseline:
    """Quantile bins of a model's out-of-fold scores: `edges` are the inner bin edges (a
    score s falls in bin i when edges[i-1] < s <= edges[i]), `shares` each bin's share."""

    edges: tuple[float, ...]
    shares: tuple[float, ...]
    rows: int

    @classmethod
    def from_scores(cls, scores: Iterable[float], bins: int = BASELINE_BINS) -> ScoreBaseline:
        """Quantile bins of `scores` (ties merge bins: a model whose scores pile up at one
        value gets fewer, wider bins)."""
        values = np.asarray(list(scores), dtype=np.float64)
        if values.size == 0 or not np.isfinite(values).all():
            raise ValueError("a score baseline needs one or more finite scores")
        quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
        edges = tuple(float(e) for e in np.unique(np.round(quantiles, 6)))
        counts = np.bincount(_bin(edges, values), minlength=len(edges) + 1)
        shares = tuple(float(c) for c in np.round(counts / values.size, 6))
        return cls(edges, shares, int(values.size))

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any]) -> ScoreBaseline:
        edges = tuple(float(v) for v in data["edges"])
        shares = tuple(float(v) for v in data["shares"])
        if len(shares) != len(edges) + 1:
            raise ValueError("a score baseline has one more share than inner edges")
        if any(b <= a for a, b in pairwise(edges)):
            raise ValueError("a score baseline's edges must increase")
        if any(s < 0 for s in shares) or not math.isclose(sum(shares), 1.0, abs_tol=1e-3):
            raise ValueError("a score baseline's shares must be non-negative and sum to 1")
        return cls(edges, shares, int(data.get("rows", 0)))

    def to_manifest(self, method: str = "quantile bins of out-of-fold scores") -> dict[str, Any]:
        return {
            "method": method,
            "edges": list(self.edges),
            "shares": list(self.shares),
            "rows": self.rows,
        }

    def counts(self, scores: np.ndarray) -> np.ndarray:
        """How many of `scores` fall in each bin."""
        return np.bincount(_bin(self.edges, scores), minlength=len(self.shares))


def _bin(edges: tuple[float, ...], scores: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(edges, dtype=np.float64), scores, side="left")


@dataclass(frozen=True, slots=True)
class WindowState:
    """What the window holds now: its verdicts, the PSI (NaN below the minimum count or
    without a baseline) and each label's share."""

    verdicts: int
    psi: float
    label_shares: dict[str, float]


class DriftWindow:
    """The bin and label counts of the verdicts of the last `seconds`, one entry a batch.

    Memory is one bin-count array and one label counter per batch in the window (at 500
    records a batch and 10,000 records/s over ten minutes: 12,000 small entries)."""

    def __init__(
        self,
        baseline: ScoreBaseline | None,
        seconds: float,
        min_verdicts: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.baseline = baseline
        self.seconds = seconds
        self.min_verdicts = min_verdicts
        self._clock = clock
        self._entries: deque[tuple[float, int, np.ndarray | None, Counter[str]]] = deque()
        self._bins = np.zeros(len(baseline.shares) if baseline else 0, dtype=np.int64)
        self._labels: Counter[str] = Counter()
        self._verdicts = 0

    def add(self, scores: np.ndarray, labels: Mapping[str, int]) -> None:
        """One batch's scores and its verdict count per label."""
        counts = self.baseline.counts(scores) if self.baseline is not None else None
        self._entries.append((self._clock(), len(scores), counts, Counter(labels)))
        if counts is not None:
            self._bins += counts
        self._labels.update(labels)
        self._verdicts += len(scores)
        self._expire()

    def _expire(self) -> None:
        horizon = self._clock() - self.seconds
        entries = self._entries
        while entries and entries[0][0] < horizon:
            _, n, counts, labels = entries.popleft()
            if counts is not None:
                self._bins -= counts
            self._labels.subtract(labels)
            self._verdicts -= n

    def state(self) -> WindowState:
        self._expire()
        total = self._verdicts
        shares = {label: (n / total if total else 0.0) for label, n in self._labels.items()}
        drift = math.nan
        if self.baseline is not None and total >= self.min_verdicts:
            drift = psi(np.asarray(self.baseline.shares), self._bins)
        return WindowState(total, drift, shares)
