"""Offsets and retries (`consumer.stream.offsets`): a partition is committed up to its first
unacknowledged record; one with a failed output is held, rewound and retried after a backoff."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

import consumer.stream
from consumer.stream.acks import AckTracker
from consumer.stream.metrics import Metrics
from consumer.stream.offsets import Offsets
from tests.fakes import FakeConsumer, FakeProducer, make_worker, record, text, verdict_offset


def test_a_finished_position_is_committed_once() -> None:
    consumer, acks = FakeConsumer(), AckTracker()
    offsets = Offsets(consumer, acks, {("in", 0)}, Metrics())
    batch = acks.begin()
    acks.add_part(batch, ("in", 0), 0, 4)
    batch.pending = 1
    offsets.settle()
    assert consumer.commits == [], "an output of the batch is still in flight"
    batch.report(None, None)
    offsets.settle()
    assert consumer.commits == [[("in", 0, 5)]]
    offsets.on_commit(None, [TopicPartition("in", 0, 5)])
    offsets.commit({("in", 0)}, asynchronous=False)
    assert consumer.commits == [[("in", 0, 5)]], "already committed"


def test_offsets_is_the_only_step_that_commits() -> None:
    """One place commits: every other step asks `Offsets`."""
    committing = []
    for path in sorted(Path(consumer.stream.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "commit"
                and ast.unparse(node.func.value).endswith("consumer")
            ):
                committing.append(path.name)
    assert committing == ["offsets.py"]


def test_undelivered_record_is_not_committed_and_is_retried_after_a_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = FakeProducer(fail_when=lambda p: p.key == b"k3")
    batch = [record(i, text(f"m{i}")) for i in range(6)] + [record(0, text("p1"), partition=1)]
    worker, consumer, _ = make_worker([batch], producer)
    result = worker.process(batch)
    assert result.undelivered == 1
    # Partition 0 commits only up to the record that was not acknowledged, rewinds there and
    # pauses for a backoff; partition 1 goes on.
    assert consumer.commits == [[("in", 0, 3), ("in", 1, 1)]]
    assert consumer.seeks == [("in", 0, 3)]
    assert consumer.paused == {("in", 0)}
    worker.offsets.resume_due()
    assert consumer.paused == {("in", 0)}, "not before the backoff has passed"
    clock = time.monotonic() + 60
    monkeypatch.setattr("consumer.stream.offsets.time.monotonic", lambda: clock)
    worker.offsets.resume_due()
    assert consumer.paused == set()
    # A batch in flight pauses everything; its end resumes the partition being retried too.
    worker.keepalive.poll()
    assert ("in", 0) in consumer.paused
    worker.keepalive.end()
    assert consumer.paused == set()
    # The retry succeeds: the partition moves on and the backoff is forgotten.
    producer.fail_when = None
    retry = [record(i, text(f"m{i}")) for i in range(3, 6)]
    worker.process(retry)
    assert consumer.commits[-1] == [("in", 0, 6)]
    assert worker.offsets.backoffs == {}


def test_backoff_doubles_while_delivery_keeps_failing() -> None:
    producer = FakeProducer(fail_when=lambda p: True)
    batch = [record(0, text("m"))]
    worker, consumer, _ = make_worker([], producer)
    delays = []
    for _ in range(4):
        worker.process(batch)
        delays.append(worker.offsets.backoffs[("in", 0)].retry_at - time.monotonic())
    assert [round(d) for d in delays] == [0, 1, 2, 4]
    assert consumer.commits == [], "nothing is committed while nothing is delivered"
    assert worker.delivery_failures == 4


def test_the_next_batch_is_produced_before_the_previous_one_is_acknowledged() -> None:
    """No flush per batch: batch 2 goes out while batch 1 waits for its acknowledgements,
    and each partition is committed only up to its first record not yet acknowledged."""
    producer = FakeProducer(hold=True)
    first = [record(i, text(f"a{i}")) for i in range(4)]
    second = [record(i, text(f"b{i}")) for i in range(4, 8)]
    worker, consumer, _ = make_worker([], producer)
    worker.process(first)
    worker.process(second)
    assert len(producer) == 8, "both batches are in flight"
    assert consumer.commits == []
    # The broker acknowledges out of order: the second batch, then offsets 1..3 of the first.
    producer.release(lambda p: verdict_offset(p) >= 4)
    worker.process([])
    worker.delivery.serve(0)
    assert consumer.commits == []
    producer.release(lambda p: verdict_offset(p) >= 1)
    worker.delivery.serve(0)
    assert consumer.commits == [], "offset 0 is still in flight"
    producer.release()
    worker.delivery.serve(0)
    assert consumer.commits == [[("in", 0, 8)]]


def test_a_failed_output_holds_its_partition_until_the_outputs_before_it_settle() -> None:
    producer = FakeProducer(hold=True, fail_when=lambda p: p.key == b"k2")
    batch = [record(i, text(f"m{i}")) for i in range(5)]
    worker, consumer, _ = make_worker([], producer)
    worker.process(batch)
    producer.release(lambda p: p.key in (b"k2", b"k3", b"k4"))
    worker.delivery.serve(0)
    # Paused at once, but not rewound while offsets 0 and 1 are still in flight.
    assert consumer.paused == {("in", 0)}
    assert consumer.seeks == []
    # A record of the held partition that was already fetched is not processed now.
    assert worker.process([record(5, text("m5"))]).records == 0
    producer.release()
    worker.delivery.serve(0)
    assert consumer.commits == [[("in", 0, 2)]]
    assert consumer.seeks == [("in", 0, 2)]
    assert worker.offsets.backoffs[("in", 0)].attempts == 1
