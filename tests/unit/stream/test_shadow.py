"""The shadow model (`consumer.stream.shadow`): it scores the primary's batches on its own
thread, queues up to SHADOW_QUEUE_BATCHES of them, never blocks or changes the primary,
decides by POLICY_FILE like the primary, and drops what it cannot do in time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from confluent_kafka import TopicPartition

from consumer.config.settings import Settings, SettingsError, load_settings
from consumer.contracts.messages import Verdict
from consumer.model.classifier import Classifier, Policy, Prediction
from consumer.serving.policies import SourcePolicies
from consumer.stream.codec import Decoded
from consumer.stream.metrics import Metrics
from consumer.stream.shadow import Shadow
from consumer.stream.worker import Worker
from tests.fakes import (
    FakeConsumer,
    FakeMessage,
    FakeProducer,
    Produced,
    fake_classifier,
    make_worker,
    record,
    text,
)


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


def shadow_classifier(model: Any) -> Classifier:
    return Classifier(
        name="candidate",
        version="2.0.0",
        labels=("benign", "malicious"),
        policy=Policy(positive_label="malicious", threshold=0.5),
        estimator=model,
    )


def make_shadow(
    model: Any,
    *,
    topic: str | None = "content.shadow",
    timeout_s: float = 10.0,
    queue_batches: int = 4,
    policies: SourcePolicies | None = None,
    classifier: Classifier | None = None,
    batch_max_messages: int = 500,
) -> tuple[Shadow, FakeProducer, Metrics]:
    settings = Settings(
        shadow_output_topic=topic,
        shadow_timeout_s=timeout_s,
        shadow_queue_batches=queue_batches,
        batch_max_messages=batch_max_messages,
    )
    producer, metrics = FakeProducer(), Metrics()
    shadow = Shadow(
        settings,
        classifier or shadow_classifier(model),
        metrics,
        lambda **_: producer,
        policies=policies,
    )
    return shadow, producer, metrics


def wait_for(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def wait_idle(shadow: Shadow) -> None:
    wait_for(lambda: not shadow.busy, "the shadow is still busy")


def sample(metrics: Metrics, metric: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(metric, labels) or 0.0


def batches(metrics: Metrics, result: str) -> float:
    return sample(metrics, "content_classifier_shadow_batches_total", result=result)


def texts(metrics: Metrics, result: str) -> float:
    return sample(metrics, "content_classifier_shadow_texts_total", result=result)


def offered_texts(metrics: Metrics) -> float:
    return sum(texts(metrics, result) for result in ("scored", "busy", "slow", "failed"))


BATCH = [
    record(0, text("fine words")),
    record(1, text("bad words")),
    record(2, text("odd words")),
    record(3, text("more fine words")),
]


def primary_outputs(produced: list[Produced]) -> list[tuple[str, Any]]:
    """What the primary produced, but the time of classification."""
    outputs = []
    for p in produced:
        value = orjson.loads(p.value or b"null") if p.topic == "content.verdicts" else p.value
        if isinstance(value, dict):
            value.pop("classified_at")
        outputs.append((p.topic, value))
    return outputs


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
    assert (batches(metrics, "scored"), texts(metrics, "scored")) == (1, 4)
    assert sample(metrics, "content_classifier_shadow_duration_seconds_count") == 1
    shadow_verdicts = [orjson.loads(p.value or b"") for p in shadow_producer.produced]
    assert [p.topic for p in shadow_producer.produced] == ["content.shadow"] * 4
    assert [v["label"] for v in shadow_verdicts] == ["benign", "malicious", "malicious", "benign"]
    for value in shadow_verdicts:
        verdict = Verdict.model_validate(value)
        assert verdict.shadow is True and verdict.model.version == "2.0.0"
        assert verdict.policy == "model"
    assert [v["source"]["offset"] for v in shadow_verdicts] == [0, 1, 2, 3]
    assert sample(metrics, "content_classifier_shadow_verdicts_total", result="delivered") == 4
    primary = orjson.loads(producer.produced[0].value or b"")
    assert "shadow" not in primary


def test_a_busy_shadow_queues_up_to_its_bound_then_drops_without_making_the_primary_wait() -> None:
    gate = threading.Event()
    model = ShadowModel(gate)
    # Two batches may wait, each of up to 5 texts (BATCH_MAX_MESSAGES: a primary batch).
    shadow, shadow_producer, metrics = make_shadow(model, queue_batches=2, batch_max_messages=5)
    sizes = [1, 2, 3, 4, 5]
    offsets = iter(range(100))
    work = [[record(next(offsets), text(f"fine {n}")) for _ in range(n)] for n in sizes]
    worker, consumer, producer = make_worker(work, shadow=shadow)
    shadow.start()
    started = time.monotonic()
    worker.process(work[0])
    wait_for(lambda: model.calls == 1, "the shadow took the first batch")
    for batch in work[1:]:
        worker.process(batch)
    assert time.monotonic() - started < 2  # the shadow waits for its gate for up to 10 s
    assert len(producer.produced) == sum(sizes)
    assert consumer.commits[-1] == [("in", 0, sum(sizes))]
    # One batch being scored; 2 + 3 texts wait together, then 4; the last finds it full.
    assert (batches(metrics, "busy"), texts(metrics, "busy")) == (1, 5)
    gate.set()
    wait_idle(shadow)
    assert model.calls == 3
    assert (batches(metrics, "scored"), texts(metrics, "scored")) == (4, 1 + 2 + 3 + 4)
    scored = [orjson.loads(p.value or b"")["source"]["offset"] for p in shadow_producer.produced]
    assert scored == list(range(10))
    assert offered_texts(metrics) == sum(sizes)


def test_small_batches_wait_together_up_to_a_primary_batchs_texts() -> None:
    gate = threading.Event()
    model = ShadowModel(gate)
    shadow, shadow_producer, metrics = make_shadow(model, queue_batches=1, batch_max_messages=4)
    shadow.start()
    good = Decoded(record(0, b"{}"), "fine", "m0")
    pair = (good, Prediction("benign", 0.9, {"benign": 0.9, "malicious": 0.1}, "allow"))
    assert shadow.offer([pair])
    wait_for(lambda: model.calls == 1, "the shadow took the first batch")
    # With room for one waiting batch: 2 + 2 texts share it, the third is dropped.
    assert [shadow.offer([pair, pair]) for _ in range(3)] == [True, True, False]
    gate.set()
    wait_idle(shadow)
    assert model.calls == 2
    assert (batches(metrics, "scored"), texts(metrics, "scored")) == (3, 5)
    assert (batches(metrics, "busy"), texts(metrics, "busy")) == (1, 2)
    assert len(shadow_producer.produced) == 5


def test_the_queue_bound_is_a_setting_named_in_its_error() -> None:
    assert Settings().shadow_queue_batches == 4
    assert load_settings(shadow_queue_batches="16").shadow_queue_batches == 16
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(SettingsError, match="SHADOW_QUEUE_BATCHES"):
            load_settings(shadow_queue_batches=bad)


def test_a_failing_shadow_is_dropped_with_a_count_and_the_primary_carries_on() -> None:
    shadow, shadow_producer, metrics = make_shadow(ShadowModel(fail=True))
    worker, consumer, _ = make_worker([BATCH], shadow=shadow)
    shadow.start()
    result = worker.process(BATCH)
    wait_idle(shadow)
    assert (result.verdicts, result.dead_letters) == (4, 0)
    assert consumer.commits == [[("in", 0, 4)]]
    assert (batches(metrics, "failed"), texts(metrics, "failed")) == (1, 4)
    assert shadow_producer.produced == []
    # The next batch is taken again: a failure does not leave the shadow busy.
    worker.process([record(4, text("fine"))])
    wait_idle(shadow)
    assert (batches(metrics, "failed"), texts(metrics, "failed")) == (2, 5)
    assert batches(metrics, "busy") == 0


def test_bad_input_and_a_failing_shadow_leave_the_primary_as_it_is_without_one() -> None:
    """Records the primary dead-letters never reach the shadow; what does reach it and breaks
    it (or a shadow that breaks on anything) changes nothing the primary produces."""
    mixed = [
        record(0, text("fine words")),
        record(1, b"not json"),
        record(2, text("bad words")),
        record(3, None),
        record(4, text("x" * 60)),  # over MAX_TEXT_CHARS (50 in make_worker)
        record(5, text("odd words")),
    ]
    alone, alone_consumer, alone_producer = make_worker([mixed])
    alone.process(mixed)
    shadow, _, metrics = make_shadow(ShadowModel(fail=True))
    worker, consumer, producer = make_worker([mixed], shadow=shadow)
    shadow.start()
    worker.process(mixed)
    wait_idle(shadow)
    assert primary_outputs(producer.produced) == primary_outputs(alone_producer.produced)
    assert consumer.commits == alone_consumer.commits
    assert (batches(metrics, "failed"), texts(metrics, "failed")) == (1, 3)
    # Malformed batches handed to `offer` directly: it neither raises nor blocks, each is
    # counted as failed by the shadow's thread, and a good batch after them is scored.
    shadow, _, metrics = make_shadow(ShadowModel())
    shadow.start()
    good = Decoded(record(9, b"{}"), "fine", "m9")
    wrong: list[Any] = [
        [("not a decoded record", None)],
        [
            (
                replace(good, text=cast(str, None)),
                Prediction("benign", 0.9, {"benign": 0.9}, "allow"),
            )
        ],
        [(good, Prediction("unknown", 0.9, {"unknown": 0.9}, None)), (good, None)],
    ]
    started = time.monotonic()
    assert all(shadow.offer(batch) for batch in wrong)
    assert time.monotonic() - started < 0.5
    wait_idle(shadow)
    assert (batches(metrics, "failed"), texts(metrics, "failed")) == (3, 4)
    assert shadow.offer([(good, Prediction("benign", 0.9, {"benign": 0.9}, "allow"))])
    wait_idle(shadow)
    assert batches(metrics, "scored") == 1
    shadow.close()


def test_a_slow_shadow_batch_is_dropped_once_it_exceeds_its_timeout() -> None:
    gate = threading.Event()
    model = ShadowModel(gate)
    shadow, shadow_producer, metrics = make_shadow(model, timeout_s=0.05)
    worker, _, _ = make_worker([BATCH, BATCH], shadow=shadow)
    shadow.start()
    worker.process(BATCH)
    wait_for(lambda: model.calls == 1, "the shadow took the batch")
    time.sleep(0.1)
    later = [record(4 + i, text("fine")) for i in range(2)]
    worker.process(later)  # the loop sees the running batch late: slow; this one waits
    assert (batches(metrics, "slow"), texts(metrics, "slow")) == (1, 4)
    gate.set()
    wait_idle(shadow)
    # The late results are discarded (no comparison, no shadow verdicts, one "slow" count);
    # the waiting batch is timed from when the shadow starts it, and is scored.
    assert (batches(metrics, "slow"), texts(metrics, "slow")) == (1, 4)
    assert (batches(metrics, "scored"), texts(metrics, "scored")) == (1, 2)
    assert [orjson.loads(p.value or b"")["source"]["offset"] for p in shadow_producer.produced] == [
        4,
        5,
    ]
    assert sample(metrics, "content_classifier_shadow_agreement_total", **AGREE) == 2


AGREE = {"primary_label": "benign", "shadow_label": "benign"}


def test_a_batch_the_shadow_finishes_late_unseen_is_counted_slow_by_the_shadow() -> None:
    gate = threading.Event()
    shadow, shadow_producer, metrics = make_shadow(ShadowModel(gate), timeout_s=0.05)
    shadow.start()
    worker, _, _ = make_worker([BATCH], shadow=shadow)
    timer = threading.Timer(0.2, gate.set)
    timer.start()
    worker.process(BATCH)
    wait_idle(shadow)
    assert (batches(metrics, "slow"), texts(metrics, "slow")) == (1, 4)
    assert batches(metrics, "scored") == 0 and shadow_producer.produced == []


def test_a_hanging_shadow_never_blocks_offer_and_closes_within_its_timeout() -> None:
    gate = threading.Event()
    model = ShadowModel(gate)
    shadow, _, metrics = make_shadow(model, timeout_s=0.05, queue_batches=2, batch_max_messages=1)
    work = [[record(i, text("fine"))] for i in range(20)]
    worker, consumer, producer = make_worker(work, shadow=shadow)
    shadow.start()
    started = time.monotonic()
    for batch in work:
        worker.process(batch)
        time.sleep(0.01)
    assert time.monotonic() - started < 2
    assert len(producer.produced) == 20 and consumer.commits[-1] == [("in", 0, 20)]
    assert batches(metrics, "slow") == 1  # the hung batch, once
    assert batches(metrics, "busy") == 20 - 1 - 2
    started = time.monotonic()
    shadow.close(timeout_s=0.2)
    assert time.monotonic() - started < 1
    # The batches still queued are dropped as busy: every offered text is counted once.
    assert batches(metrics, "busy") == 20 - 1
    assert offered_texts(metrics) == 20
    late = Decoded(record(20, text("fine")), "fine", "m20")
    assert not shadow.offer([(late, Prediction("benign", 0.9, {"benign": 0.9}, "allow"))])
    gate.set()
    wait_for(lambda: not shadow._thread.is_alive(), "the shadow thread ends")
    assert offered_texts(metrics) == 21 and batches(metrics, "scored") == 0


def test_a_shadow_without_an_output_topic_only_measures() -> None:
    shadow, shadow_producer, metrics = make_shadow(ShadowModel(), topic=None)
    assert shadow._producer is None
    # Every result's series exists from the start (a coverage of none is 0, not absent).
    for metric in (
        "content_classifier_shadow_batches_total",
        "content_classifier_shadow_texts_total",
    ):
        for result in ("scored", "busy", "slow", "failed"):
            assert metrics.registry.get_sample_value(metric, {"result": result}) == 0.0
    worker, _, _ = make_worker([BATCH], shadow=shadow)
    shadow.start()
    worker.process(BATCH)
    wait_idle(shadow)
    assert batches(metrics, "scored") == 1
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


# -- POLICY_FILE --------------------------------------------------------------------------

#: Every text of `kids-chat` is blocked, none of `internal-tools` (the models' scores are
#: between 0.05 and 0.8); other sources keep each model's own thresholds.
POLICIES = """\
[sources.kids-chat]
threshold = 0.01
block_threshold = 0.01

[sources.internal-tools]
threshold = 0.99
block_threshold = 0.99
"""


def sourced(offset: int, words: str, source: str) -> FakeMessage:
    return record(offset, orjson.dumps({"text": words, "source": source}))


def policy_worker(
    tmp_path: Path, model: ShadowModel
) -> tuple[Worker, Shadow, FakeProducer, FakeProducer, Metrics, SourcePolicies, Path]:
    """A worker and its shadow sharing one set of policies (as `content-classifier run`)."""
    path = tmp_path / "policies.toml"
    path.write_text(POLICIES)
    metrics = Metrics()
    policies = SourcePolicies(path, metrics, interval_s=0)
    shadow_producer = FakeProducer()
    settings = Settings(shadow_output_topic="content.shadow")
    shadow = Shadow(
        settings, shadow_classifier(model), metrics, lambda **_: shadow_producer, policies=policies
    )
    consumer, producer = FakeConsumer(), FakeProducer()
    worker = Worker(
        Settings(),
        fake_classifier(),
        lambda **_: consumer,
        lambda **_: producer,
        metrics=metrics,
        shadow=shadow,
        policies=policies,
    )
    worker.connect()
    worker.rebalance.on_assign(consumer, [TopicPartition("in", 0)])
    return worker, shadow, producer, shadow_producer, metrics, policies, path


def decided(produced: list[Produced]) -> dict[int, tuple[str, str, str]]:
    found = {}
    for p in produced:
        value = orjson.loads(p.value or b"")
        found[value["source"]["offset"]] = (value["policy"], value["label"], value["action"])
    return found


def test_shadow_verdicts_are_decided_by_the_primarys_policies_per_source(tmp_path: Path) -> None:
    worker, shadow, producer, shadow_producer, metrics, _, _ = policy_worker(
        tmp_path, ShadowModel()
    )
    shadow.start()
    batch = [
        sourced(0, "fine words", "kids-chat"),
        sourced(1, "odd words", "internal-tools"),
        sourced(2, "odd words", "other"),
        sourced(3, "fine words", "other"),
    ]
    worker.process(batch)
    wait_idle(shadow)
    expected = {
        0: ("kids-chat", "malicious", "block"),
        1: ("internal-tools", "benign", "allow"),
        2: ("model", "malicious", "block"),  # the shadow's own thresholds: 0.7 is malicious
        3: ("model", "benign", "allow"),
    }
    assert decided(shadow_producer.produced) == expected
    primary = decided(producer.produced)
    assert [primary[o][0] for o in range(4)] == ["kids-chat", "internal-tools", "model", "model"]
    # Agreement compares the two models under the same policies.
    agreement = "content_classifier_shadow_agreement_total"
    pair = {"primary_label": "malicious", "shadow_label": "malicious"}
    assert sample(metrics, agreement, **pair) == 1
    # The policies' own counts are the primary's verdicts only.
    counted = sum(
        s.value
        for family in metrics.registry.collect()
        if family.name == "content_classifier_policy_verdicts"
        for s in family.samples
        if s.name.endswith("_total")
    )
    assert counted == 4


def test_a_reload_reaches_the_shadow_from_the_batch_the_primary_decides_with_it(
    tmp_path: Path,
) -> None:
    gate = threading.Event()
    model = ShadowModel(gate)
    worker, shadow, _, shadow_producer, _, policies, path = policy_worker(tmp_path, model)
    shadow.start()
    worker.process([sourced(0, "odd words", "internal-tools")])
    wait_for(lambda: model.calls == 1, "the shadow took the batch")
    worker.process([sourced(1, "odd words", "internal-tools")])  # waits in the queue
    path.write_text(POLICIES.replace("[sources.internal-tools]", "[sources.other]"))
    assert policies.reload_if_changed()
    worker.process([sourced(2, "odd words", "internal-tools")])
    gate.set()
    wait_idle(shadow)
    # Batches queued before the reload keep the set the primary decided them with.
    assert decided(shadow_producer.produced) == {
        0: ("internal-tools", "benign", "allow"),
        1: ("internal-tools", "benign", "allow"),
        2: ("model", "malicious", "block"),
    }


def test_policies_leave_a_shadow_without_a_positive_label_to_its_own_decisions(
    tmp_path: Path,
) -> None:
    class Router:
        classes_ = ("billing", "cards", "other")

        def predict_proba(self, texts: Sequence[str]) -> list[list[float]]:
            return [[0.7, 0.2, 0.1] for _ in texts]

    router = Classifier("router", "1.0.0", Router.classes_, Policy(), Router())
    path = tmp_path / "policies.toml"
    path.write_text(POLICIES)
    policies = SourcePolicies(path, Metrics(), interval_s=0)
    shadow, shadow_producer, metrics = make_shadow(None, classifier=router, policies=policies)
    worker, _, _ = make_worker([], shadow=shadow)
    shadow.start()
    for offset in range(2):
        worker.process([sourced(offset, "fine words", "kids-chat")])
        wait_idle(shadow)
    assert batches(metrics, "scored") == 2
    assert {v for v in decided(shadow_producer.produced).values()} == {("model", "billing", None)}
