"""Keep-alive (`consumer.stream.keepalive`): paused partitions and polls while a batch is in
flight."""

from __future__ import annotations

from consumer.config.settings import Settings
from consumer.stream.worker import Worker
from tests.fakes import FakeConsumer, FakeProducer, fake_classifier, make_worker, record, text


def test_a_record_polled_while_a_batch_is_in_flight_is_read_again() -> None:
    worker, consumer, _ = make_worker([])
    consumer.polled = [record(7, text("early"), partition=2)]
    worker.keepalive.poll()
    assert consumer.paused == {("in", 0), ("in", 1), ("in", 2)}
    assert consumer.seeks == [("in", 2, 7)]
    worker.keepalive.end()
    assert consumer.paused == set()


def test_keep_alive_polls_start_after_five_seconds_or_a_quarter_of_the_poll_interval() -> None:
    from consumer.stream.keepalive import KEEP_ALIVE_AFTER_S, keep_alive_after

    assert keep_alive_after(None) == KEEP_ALIVE_AFTER_S == 5.0
    assert keep_alive_after("300000") == 5.0
    assert keep_alive_after("6000") == 1.5
    worker, _, _ = make_worker([], connect=True)
    assert worker.keepalive.after_s == 5.0
    short = Settings(kafka={"max.poll.interval.ms": "8000"})
    worker = Worker(
        short, fake_classifier(), lambda **_: FakeConsumer(batches=[]), lambda **_: FakeProducer()
    )
    worker.connect()
    assert worker.keepalive.after_s == 2.0
