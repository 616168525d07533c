from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError, TopicPartition

from consumer.config.settings import Settings
from consumer.model.classifier import Classifier, Policy, Prediction
from consumer.model.isolation import classify_isolating
from consumer.stream.codec import Decoded
from consumer.stream.worker import BatchResult, Worker, settle_collector
from tests.fakes import FakeConsumer, FakeMessage, FakeProducer

POISON = "<<poison>>"


class PoisonModel:
    """A model that raises on any batch containing the marker, like a real bug would."""

    classes_ = ("benign", "malicious")

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        if any(POISON in text for text in texts):
            raise RuntimeError("model cannot handle this input")
        return [[0.2, 0.8] if "bad" in text else [0.9, 0.1] for text in texts]


def classifier() -> Classifier:

    return Classifier(
        name="fake",
        version="1.2.3",
        labels=("benign", "malicious"),
        policy=Policy(positive_label="malicious", threshold=0.5),
        estimator=PoisonModel(),
    )


def make_worker(
    batches: list[list[FakeMessage]], producer: FakeProducer | None = None
) -> tuple[Worker, FakeConsumer, FakeProducer]:
    consumer = FakeConsumer(batches=batches)
    producer = producer if producer is not None else FakeProducer()
    settings = Settings(
        batch_max_messages=100, batch_max_wait_ms=1, max_text_chars=50, max_value_bytes=200
    )
    worker = Worker(settings, classifier(), lambda **_: consumer, lambda **_: producer)
    worker.consumer = consumer  # what run() would build
    worker.producer = producer
    worker._on_assign(consumer, [TopicPartition("in", p) for p in range(3)])
    return worker, consumer, producer


def record(offset: int, value: bytes | None, partition: int = 0) -> FakeMessage:
    return FakeMessage(value, _key=f"k{offset}".encode(), _partition=partition, _offset=offset)


def text(value: str) -> bytes:
    return orjson.dumps({"text": value})


def test_one_output_per_input_and_commit_after_delivery() -> None:
    batch = [
        record(0, text("hello")),
        record(1, text("bad stuff")),
        record(2, b"not json"),
        record(3, None),
        record(4, text("x" * 51)),
        record(0, text("other partition"), partition=1),
    ]
    worker, consumer, producer = make_worker([batch])
    result = worker.process(batch)
    assert (result.records, result.verdicts, result.dead_letters) == (6, 3, 3)
    assert [p.topic for p in producer.produced].count("content.verdicts") == 3
    assert [p.topic for p in producer.produced].count("content.dlq") == 3
    assert consumer.commits == [[("in", 0, 5), ("in", 1, 1)]]
    labels = [
        orjson.loads(p.value or b"")["label"]
        for p in producer.produced
        if p.topic == "content.verdicts"
    ]
    assert labels == ["benign", "malicious", "benign"]


def test_a_value_over_max_value_bytes_is_dead_lettered_at_decode_byte_for_byte() -> None:
    big = orjson.dumps({"text": "short", "metadata": {"padding": "p" * 300}})
    batch = [record(0, big), record(1, text("hello"))]
    worker, consumer, producer = make_worker([batch])
    result = worker.process(batch)
    assert (result.verdicts, result.dead_letters) == (1, 1)
    [dead] = [p for p in producer.produced if p.topic == "content.dlq"]
    headers = dict(dead.headers or [])
    assert headers["__classifier.errors.stage"] == b"decode"
    assert headers["__classifier.errors.exception.class.name"] == b"ValueTooLarge"
    assert dead.value == big and dead.key == b"k0"
    assert consumer.commits == [[("in", 0, 2)]]


def test_outputs_keep_input_order_within_a_partition() -> None:
    batch = [record(i, text(f"m{i}") if i % 3 else b"{") for i in range(12)]
    worker, _, producer = make_worker([batch])
    worker.process(batch)
    offsets = []
    for produced in producer.produced:
        if produced.topic == "content.verdicts":
            offsets.append(orjson.loads(produced.value or b"")["source"]["offset"])
        else:
            headers = dict(produced.headers or [])
            offsets.append(int(headers["__classifier.errors.offset"] or b"-1"))
    assert offsets == list(range(12))


def test_a_poison_record_is_isolated_and_dead_lettered_at_classify() -> None:
    batch = [record(i, text(POISON if i == 5 else f"fine {i}")) for i in range(16)]
    worker, consumer, producer = make_worker([batch])
    result = worker.process(batch)
    assert (result.verdicts, result.dead_letters) == (15, 1)
    [dead] = [p for p in producer.produced if p.topic == "content.dlq"]
    headers = dict(dead.headers or [])
    assert headers["__classifier.errors.stage"] == b"classify"
    assert headers["__classifier.errors.model.version"] == b"1.2.3"
    assert headers["__classifier.errors.exception.class.name"] == b"RuntimeError"
    assert dead.value == batch[5].value()
    assert consumer.commits == [[("in", 0, 16)]]


def test_a_model_answer_that_is_not_a_number_is_dead_lettered_not_published() -> None:
    """A verdict's scores are probabilities: a NaN from the model is no verdict."""

    class NanModel(PoisonModel):
        def predict_proba(self, texts: Sequence[str]) -> list[list[float]]:
            rows = super().predict_proba(texts)
            nan = [float("nan")] * 2
            return [nan if "nan" in t else r for t, r in zip(texts, rows, strict=True)]

    batch = [record(i, text("nan please" if i == 2 else f"fine {i}")) for i in range(4)]
    worker, consumer, producer = make_worker([batch])
    worker.classifier = Classifier("fake", "1", ("benign", "malicious"), Policy(), NanModel())
    assert (worker.process(batch).verdicts, worker.totals.dead_letters) == (3, 1)
    [dead] = [p for p in producer.produced if p.topic == "content.dlq"]
    headers = dict(dead.headers or [])
    assert headers["__classifier.errors.stage"] == b"classify"
    assert b"not finite" in (headers["__classifier.errors.exception.message"] or b"")
    verdicts = [orjson.loads(p.value or b"") for p in producer.produced if p is not dead]
    assert [v["source"]["offset"] for v in verdicts] == [0, 1, 3]
    assert all(0 <= score <= 1 for v in verdicts for score in v["scores"].values())
    assert consumer.commits == [[("in", 0, 4)]]


def test_isolation_costs_logarithmic_calls() -> None:
    model = PoisonModel()
    items = [Decoded(FakeMessage(b""), POISON if i == 100 else "ok", str(i)) for i in range(256)]
    classifier = Classifier("m", "1", ("benign", "malicious"), Policy(), model)
    ok, bad = classify_isolating(classifier.classify, items)
    assert len(ok) == 255 and [item.id for item, _ in bad] == ["100"]
    assert model.calls <= 2 * 8 + 1


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
    worker._resume_due()
    assert consumer.paused == {("in", 0)}, "not before the backoff has passed"
    clock = time.monotonic() + 60
    monkeypatch.setattr("consumer.stream.worker.time.monotonic", lambda: clock)
    worker._resume_due()
    assert consumer.paused == set()
    # A batch in flight pauses everything; its end resumes the partition being retried too.
    worker._keep_alive()
    assert ("in", 0) in consumer.paused
    worker._end_keep_alive()
    assert consumer.paused == set()
    # The retry succeeds: the partition moves on and the backoff is forgotten.
    producer.fail_when = None
    retry = [record(i, text(f"m{i}")) for i in range(3, 6)]
    worker.process(retry)
    assert consumer.commits[-1] == [("in", 0, 6)]
    assert worker._backoff == {}


def test_backoff_doubles_while_delivery_keeps_failing() -> None:
    producer = FakeProducer(fail_when=lambda p: True)
    batch = [record(0, text("m"))]
    worker, consumer, _ = make_worker([], producer)
    delays = []
    for _ in range(4):
        worker.process(batch)
        delays.append(worker._backoff[("in", 0)].retry_at - time.monotonic())
    assert [round(d) for d in delays] == [0, 1, 2, 4]
    assert consumer.commits == [], "nothing is committed while nothing is delivered"
    assert worker.delivery_failures == 4


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


def test_a_record_polled_while_a_batch_is_in_flight_is_read_again() -> None:
    worker, consumer, _ = make_worker([])
    consumer.polled = [record(7, text("early"), partition=2)]
    worker._keep_alive()
    assert consumer.paused == {("in", 0), ("in", 1), ("in", 2)}
    assert consumer.seeks == [("in", 2, 7)]
    worker._end_keep_alive()
    assert consumer.paused == set()


def test_revoke_commits_finished_offsets_and_lost_commits_nothing() -> None:
    batch = [record(i, text("m"), partition=i % 2) for i in range(4)]
    worker, consumer, _ = make_worker([batch])
    worker.process(batch)
    consumer.commits.clear()
    worker._on_revoke(consumer, [TopicPartition("in", 0)])
    assert consumer.commits == [[("in", 0, 3)]]
    consumer.commits.clear()
    worker._on_lost(consumer, [TopicPartition("in", 1)])
    assert consumer.commits == []
    assert worker.assigned == {("in", 2)}


def test_records_of_a_partition_lost_mid_batch_are_not_committed() -> None:
    batch = [record(0, text("m"), partition=1)]
    worker, consumer, _ = make_worker([batch])
    worker._on_lost(consumer, [TopicPartition("in", 1)])
    worker.process(batch)
    assert consumer.commits == []


def test_run_stops_after_the_batch_commits_and_closes() -> None:
    batch = [record(i, text("m")) for i in range(3)]
    worker, consumer, _ = make_worker([batch])

    original = worker.process

    def process_then_stop(records: Sequence[Any]) -> BatchResult:
        result = original(records)
        worker.stop()
        return result

    worker.process = process_then_stop  # type: ignore[method-assign]
    worker.run()
    assert consumer.closed
    assert ("in", 0, 3) in [c for commit in consumer.commits for c in commit]
    assert worker.totals.verdicts == 3


def test_predictions_follow_the_policy() -> None:

    clf = classifier()
    clf.policy = Policy(positive_label="malicious", threshold=0.7, review_threshold=0.5)
    clf.estimator = type(
        "M", (), {"predict_proba": lambda self, t: [[0.6, 0.4], [0.4, 0.6], [0.2, 0.8]]}
    )()
    assert clf.classify(["a", "b", "c"]) == [
        Prediction("benign", 0.6, {"benign": 0.6, "malicious": 0.4}, "allow"),
        Prediction("benign", 0.4, {"benign": 0.4, "malicious": 0.6}, "review"),
        Prediction("malicious", 0.8, {"benign": 0.2, "malicious": 0.8}, "block"),
    ]


def verdict_offset(produced: object) -> int:
    return int(orjson.loads(produced.value or b"")["source"]["offset"])  # type: ignore[attr-defined]


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
    worker._serve(0)
    assert consumer.commits == []
    producer.release(lambda p: verdict_offset(p) >= 1)
    worker._serve(0)
    assert consumer.commits == [], "offset 0 is still in flight"
    producer.release()
    worker._serve(0)
    assert consumer.commits == [[("in", 0, 8)]]


def test_a_failed_output_holds_its_partition_until_the_outputs_before_it_settle() -> None:
    producer = FakeProducer(hold=True, fail_when=lambda p: p.key == b"k2")
    batch = [record(i, text(f"m{i}")) for i in range(5)]
    worker, consumer, _ = make_worker([], producer)
    worker.process(batch)
    producer.release(lambda p: p.key in (b"k2", b"k3", b"k4"))
    worker._serve(0)
    # Paused at once, but not rewound while offsets 0 and 1 are still in flight.
    assert consumer.paused == {("in", 0)}
    assert consumer.seeks == []
    # A record of the held partition that was already fetched is not processed now.
    assert worker.process([record(5, text("m5"))]).records == 0
    producer.release()
    worker._serve(0)
    assert consumer.commits == [[("in", 0, 2)]]
    assert consumer.seeks == [("in", 0, 2)]
    assert worker._backoff[("in", 0)].attempts == 1


def test_revoke_waits_for_outputs_in_flight_and_commits_them() -> None:
    producer = FakeProducer(hold=True)
    batch = [record(i, text("m")) for i in range(3)]
    worker, consumer, _ = make_worker([], producer)
    worker.process(batch)
    assert consumer.commits == []
    worker._on_revoke(consumer, [TopicPartition("in", 0)])
    assert consumer.commits[-1] == [("in", 0, 3)]
    assert ("in", 0) not in worker.assigned


def test_a_replaced_producer_fails_what_it_still_held() -> None:
    producer = FakeProducer(hold=True)
    replacement = FakeProducer()
    producers = iter([replacement])
    worker, consumer, _ = make_worker([], producer)
    worker._producer_factory = lambda **_: next(producers)
    worker.process([record(i, text("m")) for i in range(3)])
    # A broken producer: its outputs are never reported.
    producer.flush = lambda timeout: len(producer)  # type: ignore[method-assign]
    worker._producer_broken = True
    worker._serve(0)
    assert worker.producer is replacement
    assert consumer.seeks == [("in", 0, 0)], "read again from the first unacknowledged"
    assert consumer.commits == []


def test_a_fast_model_classifies_on_the_loop_thread_and_a_slow_one_in_the_helper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first batch goes to the helper thread (the model's speed is unknown); while
    batches stay fast, the next ones skip the hand-off; a slow batch sends the next back."""

    class ThreadModel(PoisonModel):
        def __init__(self) -> None:
            super().__init__()
            self.threads: list[str] = []

        def predict_proba(self, texts: Sequence[str]) -> list[list[float]]:
            self.threads.append(threading.current_thread().name)
            return super().predict_proba(texts)

    model = ThreadModel()
    worker, _, _ = make_worker([])
    worker.classifier = Classifier("fake", "1", ("benign", "malicious"), Policy(), model)
    worker._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")
    try:
        for offset in range(3):
            worker.process([record(offset, text("m"))])
        monkeypatch.setattr("consumer.stream.worker._INLINE_UNDER_S", 0.0)
        for offset in range(3, 5):
            worker.process([record(offset, text("m"))])
    finally:
        worker._executor.shutdown()
    main = threading.current_thread().name
    helper = [name.startswith("classify") for name in model.threads]
    assert helper == [True, False, False, False, True], model.threads
    assert model.threads[1] == main


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def collections_during(work: Callable[[], object]) -> int:
    """How many times the cyclic collector ran while `work` ran."""
    runs = [0]

    def count(phase: str, _info: dict[str, int]) -> None:
        runs[0] += phase == "start"

    gc.callbacks.append(count)
    try:
        work()
    finally:
        gc.callbacks.remove(count)
    return runs[0]


def test_settle_collector_keeps_a_batch_out_of_the_collector(collector_restored: None) -> None:
    batch = [record(offset, text(f"message {offset}")) for offset in range(500)]
    worker, _, _ = make_worker([])
    worker.process(batch)  # warm-up: first-call allocations

    gc.set_threshold(700, 10, 10)  # Python's default: a batch's records trigger collections
    assert collections_during(lambda: worker.process(batch)) > 0

    settle_collector(worker.settings.batch_max_messages)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] >= 20 * worker.settings.batch_max_messages
    assert collections_during(lambda: worker.process(batch)) == 0
