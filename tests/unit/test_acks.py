from __future__ import annotations

from consumer.acks import AckTracker

KEY = ("in", 0)


def test_commit_position_is_the_highest_contiguous_acknowledged_record() -> None:
    acks = AckTracker()
    slots = [acks.slot(KEY, offset) for offset in range(10, 15)]
    assert len(acks) == 5
    for i in (1, 2, 4):
        slots[i].ack()
    assert acks.advance(KEY) is None, "offset 10 is still in flight"
    slots[0].ack()
    assert acks.advance(KEY) == 13
    assert acks.advance(KEY) is None, "nothing new"
    slots[3].ack()
    assert acks.advance(KEY) == 15
    assert len(acks) == 0


def test_a_failure_stops_the_position_and_records_the_lowest_failed_offset() -> None:
    acks = AckTracker()
    slots = [acks.slot(KEY, offset) for offset in range(5)]
    slots[3].fail()
    slots[2].fail()
    slots[3].ack()  # a late report changes nothing
    for i in (0, 1, 4):
        slots[i].ack()
    assert acks.advance(KEY) == 2
    [track] = acks.tracks()
    assert track.first_failed == 2
    assert track.unsettled == 0


def test_fail_pending_and_forget() -> None:
    acks = AckTracker()
    first, second = acks.slot(KEY, 0), acks.slot(KEY, 1)
    first.ack()
    acks.fail_pending()
    [track] = acks.tracks()
    assert (track.first_failed, track.unsettled) == (1, 0)
    acks.forget(KEY)
    assert not acks.current(second)
    second.ack()
    assert acks.advance(KEY) is None and len(acks) == 0
