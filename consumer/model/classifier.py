"""A loaded model and its policy: one vectorised `predict_proba` call per batch, turned into a
label, its score, every label's score, and the policy's action for each record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from typing import Any, NamedTuple, Protocol

import numpy as np

from consumer.quality.drift import ScoreBaseline

__all__ = ["Classifier", "Policy", "Prediction", "ProbabilisticModel"]


class ProbabilisticModel(Protocol):
    """What the worker needs of a model: scikit-learn's `predict_proba` on raw texts."""

    classes_: Any

    def predict_proba(self, texts: Sequence[str]) -> Any: ...


@dataclass(frozen=True, slots=True)
class Policy:
    """How probabilities become a label and an action.

    Binary models name a `positive_label` (e.g. malicious): it is the label when its
    probability reaches `threshold`. The action is `block` at or above `block_threshold`,
    `review` at or above `review_threshold`, `allow` below. Models without a positive label
    take the most probable label and no action.
    """

    positive_label: str | None = None
    threshold: float = 0.5
    review_threshold: float | None = None
    block_threshold: float | None = None

    @classmethod
    def from_manifest(cls, data: dict[str, Any] | None) -> Policy:
        if not data:
            return cls()
        return cls(
            positive_label=data.get("positive_label"),
            threshold=float(data.get("threshold", 0.5)),
            review_threshold=_optional_float(data.get("review_threshold")),
            block_threshold=_optional_float(data.get("block_threshold")),
        )

    def to_manifest(self) -> dict[str, Any]:
        return {
            "positive_label": self.positive_label,
            "threshold": self.threshold,
            "review_threshold": self.review_threshold,
            "block_threshold": self.block_threshold,
        }


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


class Prediction(NamedTuple):
    """One record's result (a named tuple: built for every record the worker serves, and a
    frozen dataclass costs several times more to build). `policy` names the policy that set
    label and action: the model's own, or one of a policy file's (`consumer.model.policies`)."""

    label: str
    score: float
    scores: dict[str, float]
    action: str | None
    policy: str = "model"


@dataclass(slots=True)
class Classifier:
    """A verified, loaded model with its policy; `classify` is one vectorised call."""

    name: str
    version: str
    labels: tuple[str, ...]
    policy: Policy
    estimator: ProbabilisticModel
    manifest: dict[str, Any] = field(default_factory=dict)
    #: The model's score distribution on its out-of-fold training rows (None: not recorded).
    score_baseline: ScoreBaseline | None = None

    def scores_of(self, predictions: Sequence[Prediction]) -> np.ndarray:
        """The score drift is measured on: the positive label's probability for a binary
        model with one, the top label's probability otherwise."""
        positive = self.positive
        if positive is not None:
            return np.fromiter((p.scores[positive] for p in predictions), np.float64)
        return np.fromiter((p.score for p in predictions), np.float64)

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        proba = np.asarray(self.estimator.predict_proba(list(texts)), dtype=np.float64)
        if proba.shape != (len(texts), len(self.labels)):
            raise ValueError(
                f"predict_proba returned shape {proba.shape}, "
                f"expected ({len(texts)}, {len(self.labels)})"
            )
        if not np.isfinite(proba).all():
            # A verdict's scores are probabilities; NaN is no answer (the batch is split and
            # the records it comes from are dead-lettered at stage classify).
            raise ValueError("predict_proba returned values that are not finite numbers")
        proba = np.clip(np.round(proba, 6), 0.0, 1.0)
        labels = self.labels
        policy = self.policy
        rows = proba.tolist()
        positive = self.positive
        if positive is not None:
            return self._binary(proba, rows, labels.index(positive), policy)
        return _predictions(
            [labels[b] for b in proba.argmax(axis=1).tolist()],
            proba.max(axis=1).tolist(),
            [dict(zip(labels, row, strict=True)) for row in rows],
            [None] * len(rows),
            "model",
        )

    @property
    def reference(self) -> dict[str, str]:
        """The model as a verdict names it (`model`) and `model_info` shows it."""
        return {"name": self.name, "version": self.version}

    @property
    def positive(self) -> str | None:
        """The positive label of a binary model that names one (the kind thresholds apply
        to), else None."""
        return self.policy.positive_label if len(self.labels) == 2 else None

    def redecide(
        self, predictions: Sequence[Prediction], policy: Policy, name: str
    ) -> list[Prediction]:
        """The same scores decided by another policy (of a binary model), named `name`."""
        if not predictions:
            return []
        positive = self.positive
        if positive is None:
            raise ValueError(f"model {self.name} has no positive label: thresholds do not apply")
        rows = [[p.scores[label] for label in self.labels] for p in predictions]
        return self._binary(np.asarray(rows), rows, self.labels.index(positive), policy, name)

    def _binary(
        self,
        proba: Any,
        rows: list[list[float]],
        positive: int,
        policy: Policy,
        name: str = "model",
    ) -> list[Prediction]:
        """A binary model's policy, vectorised over the batch (the per-record part is only
        building the results: this runs for every record the worker serves)."""
        labels = self.labels
        first, second = labels
        scores = [{first: a, second: b} for a, b in rows]
        p = proba[:, positive]
        is_positive = p >= policy.threshold
        block_at = policy.threshold if policy.block_threshold is None else policy.block_threshold
        action = np.where(p >= block_at, 2, 0)
        if policy.review_threshold is not None:
            action = np.where((action == 0) & (p >= policy.review_threshold), 1, action)
        actions = ("allow", "review", "block")
        by_label = (labels[1 - positive], labels[positive])
        return _predictions(
            [by_label[flag] for flag in is_positive.tolist()],
            np.where(is_positive, p, proba[:, 1 - positive]).tolist(),
            scores,
            [actions[a] for a in action.tolist()],
            name,
        )


#: `Prediction(*fields)` without a Python call per record: a named tuple's own constructor
#: is a Python function (building results this way saved about 0.15 us a record).
_new_prediction = partial(tuple.__new__, Prediction)


def _predictions(
    labels: list[str],
    score: list[float],
    scores: list[dict[str, float]],
    action: list[Any],
    policy: str,
) -> list[Prediction]:
    """One `Prediction` per record from the batch's columns."""
    named = repeat(policy, len(labels))
    return list(map(_new_prediction, zip(labels, score, scores, action, named, strict=True)))
