"""The score distribution and its drift (`consumer.serving.scores`), through the worker."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from consumer.model.classifier import Classifier
from consumer.quality.drift import ScoreBaseline
from consumer.serving.scores import REFRESH_S
from consumer.stream.worker import Worker
from tests.fakes import FakeMessage, fake_classifier, make_worker, record, text


def baseline_classifier(version: str = "1.2.3") -> Classifier:
    """The fake model (0.1 for benign texts, 0.8 for texts with "bad"), with a baseline of
    mostly benign traffic: 90 % at 0.1, 10 % at 0.8."""
    scores = np.concatenate([np.full(900, 0.1), np.full(100, 0.8)])
    return replace(
        fake_classifier(), version=version, score_baseline=ScoreBaseline.from_scores(scores)
    )


def batch_of(bad: int, good: int, start: int = 0) -> list[FakeMessage]:
    texts = ["bad thing"] * bad + ["fine thing"] * good
    return [record(start + i, text(t), partition=i % 3) for i, t in enumerate(texts)]


def value(worker: Worker, metric: str, **labels: str) -> float | None:
    return worker.metrics.registry.get_sample_value(metric, labels)


def test_scores_are_counted_by_model_version_and_action() -> None:
    batch = batch_of(bad=3, good=7)
    worker, _, _ = make_worker([batch], classifier=baseline_classifier())
    worker.process(batch)
    count = "content_classifier_score_count"
    assert value(worker, count, model_version="1.2.3", action="block") == 3
    assert value(worker, count, model_version="1.2.3", action="allow") == 7
    # The positive label's probability: 0.1 for the benign texts, 0.8 for the others.
    total = value(worker, "content_classifier_score_sum", model_version="1.2.3", action="allow")
    assert total is not None and math.isclose(total, 0.7)
    le = {"model_version": "1.2.3", "action": "block", "le": "0.75"}
    assert worker.metrics.registry.get_sample_value("content_classifier_score_bucket", le) == 0


def test_the_psi_is_small_for_baseline_like_traffic_and_large_after_a_shift() -> None:
    usual = batch_of(bad=100, good=900)
    worker, _, _ = make_worker([usual], classifier=baseline_classifier())
    worker.scores.window.min_verdicts = 500
    worker.process(usual)
    psi = value(worker, "content_classifier_score_psi", model_version="1.2.3")
    assert psi is not None and psi < 0.01
    assert value(worker, "content_classifier_window_label_share", label="malicious") == 0.1
    shifted = batch_of(bad=2000, good=0, start=1000)
    worker.process(shifted)
    psi = value(worker, "content_classifier_score_psi", model_version="1.2.3")
    assert psi is not None and psi > 0.25
    assert value(worker, "content_classifier_window_verdicts") == 3000


def test_the_psi_is_nan_below_the_minimum_and_without_a_baseline() -> None:
    batch = batch_of(bad=1, good=9)
    worker, _, _ = make_worker([batch], classifier=baseline_classifier())
    worker.process(batch)  # 10 verdicts: fewer than DRIFT_MIN_VERDICTS (1000)
    assert math.isnan(value(worker, "content_classifier_score_psi", model_version="1.2.3") or 0)
    plain, _, _ = make_worker([batch])
    plain.process(batch)
    assert math.isnan(value(plain, "content_classifier_score_psi", model_version="1.2.3") or 0)
    assert value(plain, "content_classifier_window_label_share", label="benign") == 0.9


def test_a_new_model_starts_a_new_window_and_drops_the_old_versions_psi() -> None:
    batch = batch_of(bad=1, good=9)
    worker, _, _ = make_worker([batch], classifier=baseline_classifier())
    worker.process(batch)
    worker.scores.new_model(baseline_classifier("2.0.0"))
    assert value(worker, "content_classifier_score_psi", model_version="1.2.3") is None
    assert worker.scores.window.state().verdicts == 0


def test_an_idle_worker_refreshes_its_window_between_batches() -> None:
    now = [100.0]
    batch = batch_of(bad=1, good=9)
    worker, _, _ = make_worker([batch], classifier=baseline_classifier())
    worker.scores._clock = lambda: now[0]
    worker.scores.new_model(worker.classifier)  # the window on the test's clock
    worker.process(batch)
    assert value(worker, "content_classifier_window_verdicts") == 10
    now[0] += worker.settings.drift_window_s + REFRESH_S
    worker._turn()
    assert value(worker, "content_classifier_window_verdicts") == 0
