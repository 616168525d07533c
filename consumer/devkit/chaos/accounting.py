"""The accounting of a chaos run: what came out for every input, the duplicates each fault
caused, and how long the group took to make progress after each fault."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from consumer.devkit.chaos.schedule import MOVES

__all__ = ["AppliedFault", "ChaosReport", "Input", "Output", "account"]


@dataclass(frozen=True, slots=True)
class Input:
    """A record as the broker acknowledged it: its number in the stream, its hostile kind (None
    for a valid message) and its timestamp (ms)."""

    number: int
    hostile: str | None
    produced_ms: int


@dataclass(frozen=True, slots=True)
class Output:
    """A verdict or dead letter for the input at (partition, offset), with the time the worker
    produced it (ms): the verdict's timestamp, or the dead letter's `failed_at` header."""

    partition: int
    offset: int
    dead_letter: bool
    at_ms: int
    model_version: str | None = None


@dataclass(frozen=True, slots=True)
class AppliedFault:
    """A fault as it happened: its kind, the member process it hit and when (ms)."""

    kind: str
    at_ms: int
    member: str = ""
    detail: str = ""


@dataclass(slots=True)
class ChaosReport:
    seed: int
    strategy: str
    inputs: int = 0
    hostile: int = 0
    verdicts: int = 0
    dead_letters: int = 0
    #: Inputs with no verdict and no dead letter when the run ended.
    unprocessed: int = 0
    unprocessed_by_partition: dict[str, int] = field(default_factory=dict)
    #: Hostile inputs with a verdict or without a dead letter; valid inputs with a dead letter.
    misrouted: int = 0
    duplicates: int = 0
    #: Repeated outputs before any fault that moves partitions (a retried delivery).
    duplicates_unattributed: int = 0
    longest_stall_s: float = 0.0
    longest_stall_partition: int = -1
    longest_stall_from_s: float = 0.0
    #: Per fault: kind, member, at_s, progress_s (None: nothing was waiting), duplicates.
    faults: list[dict[str, Any]] = field(default_factory=list)
    stuck: bool = False
    stall_bound_s: float = 0.0
    model_versions: dict[str, int] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    committed_end: dict[str, int] = field(default_factory=dict)
    input_end: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def passed(self) -> bool:
        """Nothing unprocessed or misrouted, and no stall beyond the bound."""
        slow = [f for f in self.faults if (f["progress_s"] or 0.0) > self.stall_bound_s]
        return (
            self.unprocessed == 0
            and self.misrouted == 0
            and self.longest_stall_s <= self.stall_bound_s
            and not slow
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def account(
    sent: Mapping[tuple[int, int], Input],
    outputs: Sequence[Output],
    faults: Sequence[AppliedFault],
    ended_ms: int,
    stream_started_ms: int,
    report: ChaosReport,
) -> ChaosReport:
    """Fill `report` with the figures of a run: outcomes, duplicates per fault, stalls."""
    by_input: dict[tuple[int, int], list[Output]] = defaultdict(list)
    for out in outputs:
        if (out.partition, out.offset) in sent:
            by_input[(out.partition, out.offset)].append(out)
    report.inputs = len(sent)
    report.hostile = sum(1 for i in sent.values() if i.hostile is not None)
    report.verdicts = sum(1 for o in outputs if not o.dead_letter)
    report.dead_letters = sum(1 for o in outputs if o.dead_letter)
    report.model_versions = dict(Counter(o.model_version or "?" for o in outputs))
    missing = [key for key in sent if key not in by_input]
    report.unprocessed = len(missing)
    report.unprocessed_by_partition = {
        str(p): n for p, n in sorted(Counter(p for p, _ in missing).items())
    }
    report.misrouted = sum(
        1
        for key, record in sent.items()
        if key in by_input
        and any(o.dead_letter != (record.hostile is not None) for o in by_input[key])
    )
    # A repeated output belongs to the last fault before it that moves partitions (a kill, a
    # stop or a join: the rebalances they start, including the one when the restarted member
    # joins, are what hands a partition over before its commit); -1: none before it. A reload
    # moves no partition, so it is never blamed.
    moving = [(f.at_ms, i) for i, f in enumerate(faults) if f.kind in MOVES]
    moving_times = [at for at, _ in moving]
    per_fault = Counter[int]()
    for outs in by_input.values():
        for again in sorted(o.at_ms for o in outs)[1:]:
            index = bisect.bisect_right(moving_times, again) - 1
            per_fault[moving[index][1] if index >= 0 else -1] += 1
    report.duplicates = sum(per_fault.values())
    report.duplicates_unattributed = per_fault[-1]
    first = {key: min(o.at_ms for o in outs) for key, outs in by_input.items()}
    partitions = sorted({p for p, _ in sent})
    offsets = {p: sorted(o for q, o in sent if q == p) for p in partitions}
    done_times = {p: sorted(first[(p, o)] for o in offsets[p] if (p, o) in first) for p in offsets}
    # Stall: how long a partition's next record waited while the one before it was done.
    for p in partitions:
        previous_done: int | None = None
        for offset in offsets[p]:
            record = sent[(p, offset)]
            start = max(record.produced_ms, previous_done or record.produced_ms)
            done = first.get((p, offset), ended_ms)
            stalled_s = (done - start) / 1000
            if stalled_s > report.longest_stall_s:
                report.longest_stall_s = round(stalled_s, 2)
                report.longest_stall_partition = p
                report.longest_stall_from_s = round((start - stream_started_ms) / 1000, 2)
            previous_done = max(previous_done or done, done)
    report.faults = []
    for index, fault in enumerate(faults):
        waits = []
        for p in partitions:
            waiting = any(
                sent[(p, o)].produced_ms <= fault.at_ms < first.get((p, o), ended_ms + 1)
                for o in offsets[p]
            )
            if not waiting:
                continue
            times = done_times[p]
            after = bisect.bisect_right(times, fault.at_ms)
            done = times[after] if after < len(times) else ended_ms
            waits.append((done - fault.at_ms) / 1000)
        report.faults.append(
            {
                "kind": fault.kind,
                "member": fault.member,
                "detail": fault.detail,
                "at_s": round((fault.at_ms - stream_started_ms) / 1000, 2),
                "progress_s": round(max(waits), 2) if waits else None,
                "duplicates": per_fault[index],
            }
        )
    return report
