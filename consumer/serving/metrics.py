"""The model's metrics, shared by every process that answers with it (the worker and the
HTTP API): prefix `content_classifier_`, base units, no ids, keys or offsets as label values.
"""

from __future__ import annotations

import collections
import platform
from collections.abc import Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from consumer import __version__
from consumer.model.classifier import Classifier, Prediction

__all__ = ["PREFIX", "SCORE_BUCKETS", "ModelMetrics", "observe_many"]

PREFIX = "content_classifier_"
#: Scores are probabilities: twenty equal bins.
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))


def observe_many(histogram: Histogram, values: Sequence[float] | np.ndarray) -> None:
    """`histogram.observe(v)` for every value, with one update per bucket instead of one per
    value (per-record latency of a whole batch), counted by numpy. Falls back to `observe` if
    prometheus_client ever lays out its histogram differently (a unit test compares both)."""
    if len(values) == 0:
        return
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:
            histogram.observe(float(value))
        return
    array = np.asarray(values, dtype=np.float64)
    # A value v counts in the first bucket whose upper bound is >= v, as `observe` does.
    counts = np.bincount(np.searchsorted(bounds, array, side="left"), minlength=len(bounds))
    for bucket, count in zip(buckets, counts.tolist(), strict=True):
        if count:
            bucket.inc(count)
    total.inc(float(array.sum()))


class ModelMetrics:
    """What every process that answers with the model exports, in its own registry (tests
    make as many as they like): its build and role, the model and its reloads, the stages of
    a cascade, the policies, and the verdicts' scores and their drift (docs/operations.md).
    `role` tells the worker's series from the API's (`content_classifier_build_info`)."""

    def __init__(self, role: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.build = Info(PREFIX + "build", "The process's build and role.", registry=r)
        self.build.info({"version": __version__, "python": platform.python_version(), "role": role})
        self.model = Info(PREFIX + "model", "The model serving verdicts.", registry=r)
        self._shown: Classifier | None = None
        self.model_reloads = Counter(
            PREFIX + "model_reloads",
            "New model artifacts seen at MODEL_PATH, by result (loaded, refused).",
            ["result"],
            registry=r,
        )
        self.stage_texts = Counter(
            PREFIX + "model_stage_texts",
            "Texts decided by each stage of a cascade model (fast, transformer).",
            ["stage"],
            registry=r,
        )
        self.score = Histogram(
            PREFIX + "score",
            "The positive label's probability (binary models) or the top label's, per verdict.",
            ["model_version", "action"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.score_psi = Gauge(
            PREFIX + "score_psi",
            "Population stability index of the recent window's scores against the model's "
            "training baseline (NaN until the window holds DRIFT_MIN_VERDICTS verdicts).",
            ["model_version"],
            registry=r,
        )
        self.window_verdicts = Gauge(
            PREFIX + "window_verdicts", "Verdicts in the drift window (DRIFT_WINDOW_S).", registry=r
        )
        self.window_label_share = Gauge(
            PREFIX + "window_label_share",
            "Share of each label among the verdicts of the drift window.",
            ["label"],
            registry=r,
        )
        self.policy_verdicts = Counter(
            PREFIX + "policy_verdicts",
            "Verdicts by the policy that decided them (POLICY_FILE) and its action.",
            ["policy", "action"],
            registry=r,
        )
        self.verdict_categories = Counter(
            PREFIX + "verdict_categories",
            "Verdicts made with a non-benign label, by the kind of harm that decided them "
            "(models with categories).",
            ["category"],
            registry=r,
        )
        self.verdict_languages = Counter(
            PREFIX + "verdict_languages",
            "Verdicts made, by the text's language (ISO 639-1, und when it cannot be told).",
            ["language"],
            registry=r,
        )
        self.policy_reloads = Counter(
            PREFIX + "policy_reloads",
            "Changed policy files seen at POLICY_FILE, by result (loaded, refused).",
            ["result"],
            registry=r,
        )

    def show_model(self, classifier: Classifier) -> None:
        """`content_classifier_model_info` names `classifier` (set again only on a change:
        the API calls this every batch)."""
        if classifier is not self._shown:
            self.model.info(classifier.reference)
            self._shown = classifier

    def count_kinds(self, predictions: Sequence[Prediction]) -> None:
        """Count a batch's verdicts by the category that decided them and by language."""
        found = collections.Counter([p.category for p in predictions if p.category is not None])
        for category, n in found.items():
            self.verdict_categories.labels(category).inc(n)
        languages = collections.Counter([p.language for p in predictions])
        for language, n in languages.items():
            if language is not None:
                self.verdict_languages.labels(language).inc(n)

    def observe_stages(self, estimator: object) -> None:
        """Count the texts each stage of a cascade decided since the last batch."""
        stage_counts = getattr(estimator, "stage_counts", None)
        if stage_counts is None:
            return
        for stage, n in stage_counts().items():
            if n:
                self.stage_texts.labels(stage).inc(n)
