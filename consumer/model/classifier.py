"""A loaded model and its policy: one vectorised `predict_proba` call per batch, turned into a
label, its score, every label's score, and the policy's action for each record.

A binary model may also know kinds of harm (`categories` in its manifest, e.g.
`prompt_injection`, `hate_harassment`, `harmful_request`): its `predict_proba` then returns
the labels' columns followed by one column per category, the probability that the text is
that kind of harm (they sum to the positive label's probability). The most probable
category is the text's kind; the positive label is decided by that category's thresholds
(the policy's own where a category has none), and names it in `category`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from typing import Any, NamedTuple, Protocol

import numpy as np

from consumer.model.language import UNDETERMINED, detect_languages
from consumer.quality.drift import ScoreBaseline

__all__ = ["Classifier", "Policy", "Prediction", "ProbabilisticModel", "Thresholds"]


class ProbabilisticModel(Protocol):
    """What the worker needs of a model: scikit-learn's `predict_proba` on raw texts."""

    classes_: Any

    def predict_proba(self, texts: Sequence[str]) -> Any: ...


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A category's own thresholds; one left out (None) is its policy's."""

    threshold: float | None = None
    review_threshold: float | None = None
    block_threshold: float | None = None

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any]) -> Thresholds:
        return cls(
            _optional_float(data.get("threshold")),
            _optional_float(data.get("review_threshold")),
            _optional_float(data.get("block_threshold")),
        )

    def to_manifest(self) -> dict[str, float | None]:
        return {
            "threshold": self.threshold,
            "review_threshold": self.review_threshold,
            "block_threshold": self.block_threshold,
        }


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
    #: Thresholds of a model's categories by name: a category's verdicts are decided by its
    #: own entry, and by the three thresholds above where the entry leaves one out.
    categories: Mapping[str, Thresholds] = field(default_factory=dict)
    #: What a text in a language the model does not read gets: `review` (an `allow` becomes
    #: `review`) or `model` (the model's action stands).
    other_languages: str = "review"

    @classmethod
    def from_manifest(cls, data: dict[str, Any] | None) -> Policy:
        if not data:
            return cls()
        return cls(
            positive_label=data.get("positive_label"),
            threshold=float(data.get("threshold", 0.5)),
            review_threshold=_optional_float(data.get("review_threshold")),
            block_threshold=_optional_float(data.get("block_threshold")),
            categories={
                str(name): Thresholds.from_manifest(entry)
                for name, entry in (data.get("categories") or {}).items()
            },
            other_languages=str(data.get("other_languages", "review")),
        )

    def to_manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "positive_label": self.positive_label,
            "threshold": self.threshold,
            "review_threshold": self.review_threshold,
            "block_threshold": self.block_threshold,
        }
        if self.categories:
            data["categories"] = {
                name: own.to_manifest() for name, own in sorted(self.categories.items())
            }
        if self.other_languages != "review":
            data["other_languages"] = self.other_languages
        return data

    def for_category(self, name: str) -> Policy:
        """The thresholds a category's verdicts are decided by."""
        own = self.categories.get(name) or Thresholds()
        return Policy(
            self.positive_label,
            self.threshold if own.threshold is None else own.threshold,
            self.review_threshold if own.review_threshold is None else own.review_threshold,
            self.block_threshold if own.block_threshold is None else own.block_threshold,
            other_languages=self.other_languages,
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _thresholds(policy: Policy) -> tuple[float, float, float]:
    """(label, review, block) thresholds: no block threshold blocks at the label's, no
    review threshold reviews nothing below the block threshold."""
    block_at = policy.threshold if policy.block_threshold is None else policy.block_threshold
    review_at = block_at if policy.review_threshold is None else policy.review_threshold
    return policy.threshold, review_at, block_at


class Prediction(NamedTuple):
    """One record's result (a named tuple: built for every record the worker serves, and a
    frozen dataclass costs several times more to build). `policy` names the policy that set
    label and action: the model's own, or one of a policy file's (`consumer.model.policies`)."""

    label: str
    score: float
    scores: dict[str, float]
    action: str | None
    policy: str = "model"
    #: The probability of each kind of harm the model knows (None: it knows none).
    categories: dict[str, float] | None = None
    #: The kind of harm that decided a positive label (None for any other label).
    category: str | None = None
    #: The text's language, ISO 639-1 or `und` (None: not identified).
    language: str | None = None


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
    #: The kinds of harm a binary model scores beside its labels (empty: none).
    categories: tuple[str, ...] = ()
    #: The languages the model was trained on (ISO 639-1; empty: not recorded, so no text
    #: is sent to review for its language).
    languages: tuple[str, ...] = ()
    #: Whether each text's language is identified (`consumer.model.language`).
    identify_language: bool = True

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
        columns = len(self.labels) + len(self.categories)
        if proba.shape != (len(texts), columns):
            raise ValueError(
                f"predict_proba returned shape {proba.shape}, expected ({len(texts)}, {columns})"
            )
        if not np.isfinite(proba).all():
            # A verdict's scores are probabilities; NaN is no answer (the batch is split and
            # the records it comes from are dead-lettered at stage classify).
            raise ValueError("predict_proba returned values that are not finite numbers")
        proba = np.clip(np.round(proba, 6), 0.0, 1.0)
        labels = self.labels
        policy = self.policy
        positive = self.positive
        languages = detect_languages(texts) if self.identify_language else None
        if self.categories:
            kinds = proba[:, len(labels) :]
            proba = proba[:, : len(labels)]
            if positive is None:
                raise ValueError(f"model {self.name} has categories but no positive label")
            index = labels.index(positive)
            return self._binary(proba, proba.tolist(), index, policy, "model", kinds, languages)
        rows = proba.tolist()
        if positive is not None:
            return self._binary(proba, rows, labels.index(positive), policy, languages=languages)
        return _predictions(
            [labels[b] for b in proba.argmax(axis=1).tolist()],
            proba.max(axis=1).tolist(),
            [dict(zip(labels, row, strict=True)) for row in rows],
            [None] * len(rows),
            "model",
            language=languages,
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
        kinds = None
        if self.categories:
            kinds = np.asarray(
                [[(p.categories or {}).get(c, 0.0) for c in self.categories] for p in predictions]
            )
        found = [p.language for p in predictions]
        languages = None if all(language is None for language in found) else found
        index = self.labels.index(positive)
        return self._binary(np.asarray(rows), rows, index, policy, name, kinds, languages)

    def _binary(
        self,
        proba: Any,
        rows: list[list[float]],
        positive: int,
        policy: Policy,
        name: str = "model",
        kinds: Any = None,
        languages: Sequence[str | None] | None = None,
    ) -> list[Prediction]:
        """A binary model's policy, vectorised over the batch (the per-record part is only
        building the results: this runs for every record the worker serves). With `kinds`
        (one column per category), each record is decided by its most probable category's
        thresholds. A text in a language the model does not read is reviewed rather than
        allowed, unless the policy says `other_languages = "model"`."""
        labels = self.labels
        first, second = labels
        scores = [{first: a, second: b} for a, b in rows]
        p = proba[:, positive]
        if kinds is None:
            threshold, review_at, block_at = _thresholds(policy)
        else:
            top = kinds.argmax(axis=1)
            table = np.array([_thresholds(policy.for_category(c)) for c in self.categories])
            threshold, review_at, block_at = table[top].T
        is_positive = p >= threshold
        action = np.where(p >= block_at, 2, np.where(p >= review_at, 1, 0))
        if languages is not None and self.languages and policy.other_languages == "review":
            read = (*self.languages, UNDETERMINED, None)
            foreign = np.fromiter((lang not in read for lang in languages), bool, len(languages))
            action = np.where(foreign, np.maximum(action, 1), action)
        actions = ("allow", "review", "block")
        by_label = (labels[1 - positive], labels[positive])
        flags = is_positive.tolist()
        found = decided = None
        if kinds is not None:
            names = self.categories
            found = [dict(zip(names, row, strict=True)) for row in kinds.tolist()]
            decided = [names[t] if f else None for t, f in zip(top.tolist(), flags, strict=True)]
        return _predictions(
            [by_label[flag] for flag in flags],
            np.where(is_positive, p, proba[:, 1 - positive]).tolist(),
            scores,
            [actions[a] for a in action.tolist()],
            name,
            found,
            decided,
            languages,
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
    categories: list[dict[str, float]] | None = None,
    category: list[str | None] | None = None,
    language: Sequence[str | None] | None = None,
) -> list[Prediction]:
    """One `Prediction` per record from the batch's columns."""
    n = len(labels)
    columns = zip(
        labels,
        score,
        scores,
        action,
        repeat(policy, n),
        repeat(None, n) if categories is None else categories,
        repeat(None, n) if category is None else category,
        repeat(None, n) if language is None else language,
        strict=True,
    )
    return list(map(_new_prediction, columns))
