"""Rebalances (`consumer.stream.rebalance`): revoke awaits and commits, lost commits nothing."""

from __future__ import annotations

from confluent_kafka import TopicPartition

from tests.fakes import FakeProducer, make_worker, record, text


def test_revoke_commits_finished_offsets_and_lost_commits_nothing() -> None:
    batch = [record(i, text("m"), partition=i % 2) for i in range(4)]
    worker, consumer, _ = make_worker([batch])
    worker.process(batch)
    consumer.commits.clear()
    worker.rebalance.on_revoke(consumer, [TopicPartition("in", 0)])
    assert consumer.commits == [[("in", 0, 3)]]
    consumer.commits.clear()
    worker.rebalance.on_lost(consumer, [TopicPartition("in", 1)])
    assert consumer.commits == []
    assert worker.assigned == {("in", 2)}


def test_records_of_a_partition_lost_mid_batch_are_not_committed() -> None:
    batch = [record(0, text("m"), partition=1)]
    worker, consumer, _ = make_worker([batch])
    worker.rebalance.on_lost(consumer, [TopicPartition("in", 1)])
    worker.process(batch)
    assert consumer.commits == []


def test_revoke_waits_for_outputs_in_flight_and_commits_them() -> None:
    producer = FakeProducer(hold=True)
    batch = [record(i, text("m")) for i in range(3)]
    worker, consumer, _ = make_worker([], producer)
    worker.process(batch)
    assert consumer.commits == []
    worker.rebalance.on_revoke(consumer, [TopicPartition("in", 0)])
    assert consumer.commits[-1] == [("in", 0, 3)]
    assert ("in", 0) not in worker.assigned
