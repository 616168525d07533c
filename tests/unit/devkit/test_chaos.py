"""The chaos harness without a broker: seeded schedules and the accounting of a run."""

from __future__ import annotations

import itertools

import pytest

from consumer.devkit.chaos import (
    KINDS,
    AppliedFault,
    ChaosReport,
    Fault,
    Input,
    Output,
    account,
    fault_schedule,
)


def test_a_seed_gives_the_same_schedule_every_time() -> None:
    first = fault_schedule(7, 40.0)
    assert first == fault_schedule(7, 40.0)
    assert first != fault_schedule(8, 40.0)
    assert all(f.kind in KINDS for f in first)
    gaps = [b.at_s - a.at_s for a, b in itertools.pairwise(first)]
    assert all(4.0 <= gap <= 8.0 for gap in gaps)
    assert first[-1].at_s < 40.0


def test_a_sequence_is_played_whole_in_its_order() -> None:
    sequence = ["kill", "term", "kill", "kill", "kill"]
    faults = fault_schedule(3, 10.0, sequence=sequence)
    assert [f.kind for f in faults] == sequence  # longer than the stream: all of it
    assert {f.member for f in faults} <= {0, 1}


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="explode"):
        fault_schedule(1, 10.0, kinds=["kill", "explode"])


def _report() -> ChaosReport:
    return ChaosReport(seed=1, strategy="range", stall_bound_s=10.0)


def test_outcomes_duplicates_and_stalls_are_counted() -> None:
    sent = {
        (0, 0): Input(0, None, 1_000),
        (0, 1): Input(1, "tombstone", 1_100),
        (0, 2): Input(2, None, 1_200),
        (1, 0): Input(3, None, 1_000),
        (1, 1): Input(4, None, 1_000),
    }
    outputs = [
        Output(0, 0, False, 1_300),
        Output(0, 1, True, 1_300),
        Output(0, 0, False, 5_000),  # redone after the kill: its duplicate
        Output(1, 0, False, 1_500),
        Output(1, 0, False, 1_600),  # repeated before any fault: a retried delivery
        Output(1, 1, True, 1_700),  # a valid record dead-lettered
    ]
    faults = [AppliedFault("kill", 2_000, "m0.0")]
    report = account(sent, outputs, faults, 20_000, 1_000, _report())
    assert (report.inputs, report.hostile, report.verdicts, report.dead_letters) == (5, 1, 4, 2)
    assert report.unprocessed == 1 and report.unprocessed_by_partition == {"0": 1}
    assert report.misrouted == 1
    assert report.duplicates == 2
    assert report.duplicates_unattributed == 1
    assert report.faults[0]["duplicates"] == 1
    # Partition 0's third record never came out: stalled from the second's output to the end.
    assert report.longest_stall_s == pytest.approx(18.7)
    assert report.longest_stall_partition == 0
    assert report.faults[0]["progress_s"] == pytest.approx(18.0)
    assert not report.passed


def test_a_clean_run_passes() -> None:
    sent = {(0, o): Input(o, None, 1_000 + 100 * o) for o in range(5)}
    outputs = [Output(0, o, False, 1_050 + 100 * o) for o in range(5)]
    faults = [AppliedFault("reload", 1_220, detail="1.0-chaos.1")]
    report = account(sent, outputs, faults, 3_000, 1_000, _report())
    assert report.unprocessed == 0 and report.duplicates == 0 and report.misrouted == 0
    assert report.faults[0]["progress_s"] == pytest.approx(0.03)
    assert report.longest_stall_s < 0.1
    assert report.passed


def test_a_fault_with_nothing_waiting_needs_no_progress() -> None:
    sent = {(0, 0): Input(0, None, 1_000)}
    outputs = [Output(0, 0, False, 1_100)]
    report = account(sent, outputs, [AppliedFault("term", 5_000, "m1.0")], 9_000, 1_000, _report())
    assert report.faults[0]["progress_s"] is None
    assert report.passed


def test_faults_are_plain_values() -> None:
    assert Fault(1.5, "join") == Fault(1.5, "join", 0)
