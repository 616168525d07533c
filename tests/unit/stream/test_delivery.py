"""Delivery (`consumer.stream.delivery`, `consumer.stream.failures`): an output rejected for
good becomes a reduced dead letter; a broken producer is replaced."""

from __future__ import annotations

from confluent_kafka import KafkaError

from tests.fakes import FakeProducer, make_worker, record, text


def test_an_output_the_broker_rejects_for_good_becomes_a_reduced_dead_letter() -> None:
    producer = FakeProducer(
        fail_when=lambda p: p.key == b"k1" and p.value is not None,
        error_code=KafkaError.MSG_SIZE_TOO_LARGE,
    )
    batch = [record(0, text("ok")), record(1, text("too big to deliver")), record(2, b"{")]
    worker, consumer, _ = make_worker([batch], producer)
    result = worker.process(batch)
    assert result.undelivered == 0
    assert consumer.commits == [[("in", 0, 3)]]
    reduced = [p for p in producer.produced if p.key == b"k1"]
    assert len(reduced) == 1
    assert reduced[0].topic == "content.dlq"
    assert reduced[0].value is None
    headers = dict(reduced[0].headers or [])
    assert headers["__classifier.errors.stage"] == b"produce"
    assert b"rejected by the broker" in (headers["__classifier.errors.exception.message"] or b"")


def test_a_replaced_producer_fails_what_it_still_held() -> None:
    producer = FakeProducer(hold=True)
    replacement = FakeProducer()
    worker, consumer, _ = make_worker([], producer, replacements=[replacement])
    worker.process([record(i, text("m")) for i in range(3)])
    # A broken producer: its outputs are never reported, and librdkafka says it is fatal.
    producer.flush = lambda timeout: len(producer)  # type: ignore[method-assign]
    producer.error_cb(KafkaError(KafkaError._FATAL, "fenced", fatal=True))
    worker.delivery.serve(0)
    assert worker.delivery.producer is replacement
    assert worker.producers_replaced == 1
    assert consumer.seeks == [("in", 0, 0)], "read again from the first unacknowledged"
    assert consumer.commits == []
