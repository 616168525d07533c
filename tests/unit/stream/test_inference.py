"""Inference (`consumer.stream.inference`, `consumer.model.isolation`): isolation of a poison
record, and where a batch is classified."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from consumer.model.classifier import Classifier, Policy, Prediction
from consumer.model.isolation import classify_isolating
from consumer.stream.codec import Decoded
from tests.fakes import POISON, FakeMessage, PoisonModel, fake_classifier, make_worker, record, text


def test_isolation_costs_logarithmic_calls() -> None:
    model = PoisonModel()
    items = [Decoded(FakeMessage(b""), POISON if i == 100 else "ok", str(i)) for i in range(256)]
    classifier = Classifier("m", "1", ("benign", "malicious"), Policy(), model)
    ok, bad = classify_isolating(classifier.classify, items)
    assert len(ok) == 255 and [item.id for item, _ in bad] == ["100"]
    assert model.calls <= 2 * 8 + 1


def test_predictions_follow_the_policy() -> None:
    clf = fake_classifier()
    clf.policy = Policy(positive_label="malicious", threshold=0.7, review_threshold=0.5)
    clf.estimator = type(
        "M", (), {"predict_proba": lambda self, t: [[0.6, 0.4], [0.4, 0.6], [0.2, 0.8]]}
    )()
    # One letter is too short to tell its language: `und`.
    assert clf.classify(["a", "b", "c"]) == [
        Prediction("benign", 0.6, {"benign": 0.6, "malicious": 0.4}, "allow", language="und"),
        Prediction("benign", 0.4, {"benign": 0.4, "malicious": 0.6}, "review", language="und"),
        Prediction("malicious", 0.8, {"benign": 0.2, "malicious": 0.8}, "block", language="und"),
    ]


def test_a_fast_model_classifies_on_the_loop_thread_and_a_slow_one_in_the_helper() -> None:
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
    worker.inference.start()
    try:
        for offset in range(3):
            worker.process([record(offset, text("m"))])
        worker.inference.inline_under_s = 0.0  # every batch now counts as slow
        for offset in range(3, 5):
            worker.process([record(offset, text("m"))])
    finally:
        worker.inference.close()
    main = threading.current_thread().name
    helper = [name.startswith("classify") for name in model.threads]
    assert helper == [True, False, False, False, True], model.threads
    assert model.threads[1] == main
