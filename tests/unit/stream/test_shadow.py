"""The shadow model (`consumer.stream.shadow`): it scores the primary's batches on its own
thread, never blocks or changes the primary, and drops what it cannot do in time."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from consumer.config.settings import Settings
from consumer.contracts.messages import Verdict
from consumer.model.classifier import Classifier, Policy
from consumer.stream.metrics import Metrics
from consumer.stream.shadow import Shadow
from tests.fakes import FakeProducer, fake_classifier, make_worker, record, text


class ShadowModel:
    """Flags texts with "bad" or "odd"; may wait on `gate` or raise, as a shadow might."""

    classes_ = ("benign", "malicious")

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.gate = gate
        self.fail = fail
        self.calls = 0

    def predict_proba(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the shadow model broke")
        return [[0.3, 0.7] if ("bad" in t or "odd" in t) else [0.95, 0.05] for t in texts]


def shadow_classifier(model: ShadowModel) -> Classifier:
    return Classifier(
        name="candidate",
        version="2.0.0",
        labels=("benign", "malicious"),
        policy=Policy(positive_label="malicious", threshold=0.5),
        estimator=model,
    )


def make_shadow(
    model: ShadowModel, *, topic: str | None = "content.shadow", timeout_s: float = 10.0
) -> tuple[Shadow, FakeProducer, Metrics]:
    settings = Settings(shadow_output_topic=topic, shadow_timeout_s=timeout_s)
    producer, metrics = FakeProducer(), Metrics()
    shadow = Shadow(settings, shadow_classifier(model), metrics, lambda **_: producer)
    return shadow, producer, metrics


def wait_idle(shadow: Shadow) -> None:
    deadline = time.monotonic() + 10
    while shadow.busy and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not shadow.busy


def sample(metrics: Metrics, metric: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(metric, labels) or 0.0


BATCH = [
    record(0, text("fine words")),
    record(1, text("bad words")),
    record(2, text("odd words")),
    record(3, text("more fine words")),
]


def test_the_shadow_scores_the_batch_and_its_verdicts_go_to_the_shadow_topic() -> None:
    shadow, shadow_producer, metrics = make_shadow(ShadowModel())
    worker, consumer, producer = make_worker([BATCH], shadow=shadow)
    shadow.start()
    worker.process(BATCH)
    wait_idle(shadow)
    shadow.close()
    # The primary's verdicts and commits are the same as without a shadow.
    assert [p.topic for p in producer.produced] == ["content.verdicts"] * 4
    assert consumer.commits == [[("in", 0, 4)]]
    # Agreement by label pair: the shadow also flags "odd words".
    agreement = "content_classifier_shadow_agreement_total"
    assert sample(metrics, agreement, primary_label="benign", shadow_label="benign") == 2
    assert sample(metrics, agreement, primary_label="malicious", shadow_label="malicious") == 1
    assert sample(metrics, agreement, primary_label="benign", shadow_label="malicious") == 1
    assert sample(metrics, "content_classifier_shadow_score_difference_count") == 4
    assert sample(metrics, "content_classifier_shadow_batches_total", result="scored") == 1
    assert sample(metrics, "content_classifier_shadow_duration_seconds_count") == 1
    shadow_verdicts = [orjson.loads(p.value or b"") for p in shadow_producer.produced]
    assert [p.topic for p in shadow_producer.produced] == ["content.shadow"] * 4
    assert [v["label"] for v in shadow_verdicts] == ["benign", "malicious", "malicious", "benign"]
    for value in shadow_verdicts:
        verdict = Verdict.model_validate(value)
        assert verdict.shadow is True and verdict.model.version == "2.0.0"
    assert [v["source"]["offset"] for v in shadow_verdicts] == [0, 1, 2, 3]
    assert sample(metrics, "content_classifier_shadow_verdicts_total", result="delivered") == 4
    primary = orjson.loads(producer.produced[0].value or b"")
    assert "shadow" not in primary


def test_a_busy_shadow_drops_the_batch_without_making_the_primary_wait() -> None:
    gate = threading.Event()
    model = ShadowModel(gate)
    shadow, _, metrics = make_shadow(model)
    batches = [[record(i, text(f"fine {i}"))] for i in range(3)]
    worker, consumer, producer = make_worker(batches, shadow=shadow)
    shadow.start()
    started = time.monotonic()
    for batch in batches:
        worker.process(batch)
    assert time.monotonic() - started < 2  # the shadow waits for its gate for up to 10 s
    assert len(producer.produced) == 3
    assert consumer.commits[-1] == [("in", 0, 3)]
    assert sample(metrics, "content_classifier_shadow_batches_total", result="busy") == 2
    gate.set()
    wait_idle(shadow)
    assert model.calls == 1
    assert sample(metrics, "content_classifier_shadow_batches_total", result="scored") == 1


def test_a_failing_shadow_is_dropped_with_a_count_and_the_primary_carries_on() -> None:
    shadow, shadow_producer, metrics = make_shadow(ShadowModel(fail=True))
    worker, consumer, _ = make_worker([BATCH], shadow=shadow)
    shadow.start()
    result = worker.process(BATCH)
    wait_idle(shadow)
    assert (result.verdicts, result.dead_letters) == (4, 0)
    assert consumer.commits == [[("in", 0, 4)]]
    assert sample(metrics, "content_classifier_shadow_batches_total", result="failed") == 1
    assert shadow_producer.produced == []
    # The next batch is taken again: a failure does not leave the shadow busy.
    worker.process([record(4, text("fine"))])
    wait_idle(shadow)
    assert sample(metrics, "content_classifier_shadow_batches_total", result="failed") == 2
    assert sample(metrics, "content_classifier_shadow_batches_total", result="busy") == 0


def test_a_slow_shadow_batch_is_dropped_once_it_exceeds_its_timeout() -> None:
    gate = threading.Event()
    shadow, shadow_producer, metrics = make_shadow(ShadowModel(gate), timeout_s=0.05)
    worker, _, _ = make_worker([BATCH, BATCH], shadow=shadow)
    shadow.start()
    worker.process(BATCH)
    time.sleep(0.1)
    worker.process([record(4 + i, text("fine")) for i in range(2)])  # busy, and late: slow
    assert sample(metrics, "content_classifier_shadow_batches_total", result="slow") == 1
    gate.set()
    wait_idle(shadow)
    # The late results are discarded: no comparison, no shadow verdicts, one "slow" count.
    assert sample(metrics, "content_classifier_shadow_batches_total", result="slow") == 1
    assert sample(metrics, "content_classifier_shadow_batches_total", result="scored") == 0
    assert shadow_producer.produced == []


def test_a_shadow_without_an_output_topic_only_measures() -> None:
    shadow, shadow_producer, metrics = make_shadow(ShadowModel(), topic=None)
    assert shadow._producer is None
    worker, _, _ = make_worker([BATCH], shadow=shadow)
    shadow.start()
    worker.process(BATCH)
    wait_idle(shadow)
    assert sample(metrics, "content_classifier_shadow_batches_total", result="scored") == 1
    assert shadow_producer.produced == []


def test_a_reloaded_shadow_model_serves_the_next_batch() -> None:
    new = replace(shadow_classifier(ShadowModel()), version="3.0.0")
    offered: list[Any] = [new]
    settings = Settings()
    metrics = Metrics()
    shadow = Shadow(
        settings,
        shadow_classifier(ShadowModel()),
        metrics,
        new_models=lambda: offered.pop() if offered else None,
    )
    worker, _, _ = make_worker([BATCH], shadow=shadow, classifier=fake_classifier())
    shadow.start()
    worker.process(BATCH)
    wait_idle(shadow)
    assert shadow.classifier.version == "3.0.0"
    assert (
        sample(metrics, "content_classifier_shadow_model_info", name="candidate", version="3.0.0")
        == 1
    )
