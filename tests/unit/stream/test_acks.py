from __future__ import annotations

from confluent_kafka import KafkaError

from consumer.stream.acks import AckTracker, Batch

KEY = ("in", 0)
OTHER = ("in", 1)


def batch_of(acks: AckTracker, outputs: int, *parts: tuple[tuple[str, int], int, int]) -> Batch:
    batch = acks.begin()
    for key, first, last in parts:
        acks.add_part(batch, key, first, last)
    batch.pending = outputs
    return batch


def test_a_partition_commits_after_its_oldest_batches_settle() -> None:
    acks = AckTracker()
    first = batch_of(acks, 3, (KEY, 10, 12))
    second = batch_of(acks, 2, (KEY, 13, 14))
    assert len(acks) == 5
    for _ in range(2):
        second.report(None, None)
    assert second.settled and acks.advance(KEY) is None, "offsets 10..12 are still in flight"
    for _ in range(2):
        first.report(None, None)
    assert acks.advance(KEY) is None, "one output of the first batch is in flight"
    first.report(None, None)
    assert acks.advance(KEY) == 15
    assert acks.advance(KEY) is None, "nothing new"
    assert len(acks) == 0
    assert acks.settled_batches() == [first, second]
    assert acks.settled_batches() == []


def test_a_batch_of_two_partitions_settles_both_and_a_failure_stops_only_its_own() -> None:
    acks = AckTracker()
    batch = batch_of(acks, 4, (KEY, 0, 4), (OTHER, 7, 9))
    batch.report(KafkaError(KafkaError._MSG_TIMED_OUT), "the message")
    assert acks.errors == [(batch, acks.errors[0][1], "the message")]
    assert batch.pending == 4, "a failure is settled by the worker, once it knows the record"
    acks.fail(KEY, 3)
    acks.fail(KEY, 2)
    acks.fail(KEY, 3)
    batch.pending = 0
    assert acks.advance(KEY) == 2, "records 0 and 1 were acknowledged"
    assert acks.advance(OTHER) == 10
    [track, other] = acks.tracks()
    assert (track.first_failed, track.unsettled, other.first_failed) == (2, 0, None)


def test_failure_at_the_front_of_a_part_moves_nothing() -> None:
    acks = AckTracker()
    batch_of(acks, 0, (KEY, 5, 9))
    acks.fail(KEY, 5)
    assert acks.advance(KEY) is None
    assert acks.tracks()[0].parts, "the part stays until the partition is rewound"


def test_fail_pending_and_forget() -> None:
    acks = AckTracker()
    done = batch_of(acks, 0, (KEY, 0, 0))
    held = batch_of(acks, 2, (KEY, 1, 2), (OTHER, 0, 0))
    acks.fail_pending()
    assert held.abandoned and held.settled and not done.abandoned
    [track, other] = acks.tracks()
    assert (track.first_failed, track.unsettled, other.first_failed) == (1, 0, 0)
    assert acks.advance(KEY) == 1, "the first batch was acknowledged"
    acks.forget(KEY)
    acks.fail(KEY, 0)
    assert acks.advance(KEY) is None and acks.unsettled(KEY) == 0
    assert len(acks) == 0


def test_a_verdict_is_found_by_its_value() -> None:
    batch = AckTracker().begin()
    batch.verdicts = [
        ("record", b"k", b'{"id":"a"}', "benign", None),
        ("r2", b"k", b'{"id":"b"}', "x", None),
    ]
    assert batch.verdict_of(b'{"id":"b"}') == batch.verdicts[1]
    assert batch.verdict_of(b"{}") is None and batch.verdict_of(None) is None
