"""The API's own metrics registry: the model's series with `role="serve"`, none of the
consume loop's, and verdict scores reaching the drift window a scrape (or a bound) at a
time, the old model's before a reload's."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client import CollectorRegistry, generate_latest

from consumer.config.settings import Settings
from consumer.serve.metrics import ScoreBuffer, ServeMetrics
from consumer.serving.scores import ScoreMonitor
from consumer.stream.metrics import Metrics
from tests.fakes import fake_classifier
from tests.unit.serving.test_scores import baseline_classifier


def names(registry_text: bytes) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in registry_text.decode().splitlines()
        if line and not line.startswith("#")
    }


def test_the_api_exports_the_models_series_and_none_of_the_loops() -> None:
    serve = names(generate_latest(ServeMetrics().registry))
    worker = names(generate_latest(Metrics().registry))
    assert "content_classifier_build_info" in serve
    assert "content_classifier_model_reloads_total" not in serve  # no reload counted yet
    assert "content_classifier_broker_up" in worker and "content_classifier_broker_up" not in serve
    assert "content_classifier_loop_last_turn_timestamp_seconds" not in serve
    assert not {n for n in serve if "consumer_lag" in n or "shadow" in n}


def role(registry: CollectorRegistry) -> str:
    (sample,) = [s for f in registry.collect() for s in f.samples if s.name.endswith("build_info")]
    return sample.labels["role"]


def test_build_info_tells_the_api_from_a_worker() -> None:
    assert role(ServeMetrics().registry) == "serve"
    assert role(Metrics().registry) == "worker"


def test_a_batch_names_its_model_and_counts_its_texts() -> None:
    metrics = ServeMetrics()
    first, second = fake_classifier(), replace(fake_classifier(), version="9.9.9")
    metrics.on_batch(first, 5, 0.01)
    metrics.on_batch(second, 3, 0.01)
    text = generate_latest(metrics.registry).decode()
    assert 'content_classifier_model_info{name="fake",version="9.9.9"} 1.0' in text
    assert metrics.registry.get_sample_value("content_classifier_http_batch_texts_sum") == 8


def buffer(limit: int = 4096) -> tuple[ServeMetrics, ScoreMonitor, ScoreBuffer]:
    metrics, classifier = ServeMetrics(), baseline_classifier()
    monitor = ScoreMonitor(Settings(drift_min_verdicts=1), metrics, classifier)
    return metrics, monitor, ScoreBuffer(monitor, limit)


def score_count(metrics: ServeMetrics, version: str = "1.2.3") -> float:
    labels = {"model_version": version, "action": "allow"}
    return metrics.registry.get_sample_value("content_classifier_score_count", labels) or 0.0


def test_scores_wait_for_the_scrape_and_enter_the_window_as_one_entry() -> None:
    metrics, monitor, scores = buffer()
    classifier = baseline_classifier()
    for _ in range(50):
        scores.add(classifier, classifier.classify(["fine thing"]))
    assert score_count(metrics) == 0
    scores.flush()
    assert score_count(metrics) == 50
    assert len(monitor.window._entries) == 1
    assert metrics.registry.get_sample_value("content_classifier_window_verdicts") == 50


def test_the_buffer_is_bounded_without_scrapes() -> None:
    metrics, monitor, scores = buffer(limit=10)
    classifier = baseline_classifier()
    for _ in range(25):
        scores.add(classifier, classifier.classify(["fine thing"]))
    assert score_count(metrics) == 20
    assert len(monitor.window._entries) == 2


def test_a_reload_counts_the_old_models_verdicts_under_its_own_version() -> None:
    metrics, _, scores = buffer()
    old, new = baseline_classifier(), baseline_classifier("2.0.0")
    scores.add(old, old.classify(["fine thing", "fine day"]))
    scores.add(new, new.classify(["fine thing"]))
    scores.flush()
    assert score_count(metrics, "1.2.3") == 2
    assert score_count(metrics, "2.0.0") == 1
