"""Keep-alive (`consumer.stream.keepalive`): paused partitions and polls while a batch is in
flight."""

from __future__ import annotations

from tests.fakes import make_worker, record, text


def test_a_record_polled_while_a_batch_is_in_flight_is_read_again() -> None:
    worker, consumer, _ = make_worker([])
    consumer.polled = [record(7, text("early"), partition=2)]
    worker.keepalive.poll()
    assert consumer.paused == {("in", 0), ("in", 1), ("in", 2)}
    assert consumer.seeks == [("in", 2, 7)]
    worker.keepalive.end()
    assert consumer.paused == set()
