"""The loop (`consumer.stream.worker`): one output per input, in order, committed after
delivery; `run()` until `stop()`."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from consumer.model.classifier import Classifier, Policy
from tests.fakes import POISON, PoisonModel, make_worker, record, stop_after_first_batch, text


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


def test_run_stops_after_the_batch_commits_and_closes() -> None:
    batch = [record(i, text("m")) for i in range(3)]
    worker, consumer, _ = make_worker([batch], connect=False)

    stop_after_first_batch(worker)
    worker.run()
    assert consumer.closed
    assert ("in", 0, 3) in [c for commit in consumer.commits for c in commit]
    assert worker.totals.verdicts == 3
