"""Seeded schedules of faults: which fault hits the group, when, and which member."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["KINDS", "MOVES", "Fault", "fault_schedule"]

#: The kinds of fault a schedule draws from.
KINDS = ("kill", "term", "join", "reload")
#: The kinds of fault that move partitions between members (a reload moves none).
MOVES = frozenset({"kill", "term", "join"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: `at_s` seconds after the stream starts; `member` is the index of the steady
    member a `kill` or `term` hits."""

    at_s: float
    kind: str
    member: int = 0


def fault_schedule(
    seed: int,
    duration_s: float,
    *,
    gap_s: tuple[float, float] = (4.0, 8.0),
    kinds: Sequence[str] = KINDS,
    sequence: Sequence[str] | None = None,
    members: int = 2,
) -> list[Fault]:
    """Faults `gap_s` apart (drawn uniformly) over `duration_s`; their kinds drawn from `kinds`,
    or exactly `sequence` (then all of it, however long it takes). Same seed, same schedule."""
    unknown = set(sequence or kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}: choose from {KINDS}")
    rng = random.Random(seed)
    faults: list[Fault] = []
    at = rng.uniform(*gap_s)
    while (at < duration_s) if sequence is None else (len(faults) < len(sequence)):
        kind = sequence[len(faults)] if sequence is not None else rng.choice(list(kinds))
        faults.append(Fault(round(at, 2), kind, rng.randrange(members)))
        at += rng.uniform(*gap_s)
    return faults
