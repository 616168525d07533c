"""Thresholds that hold on sources the model never saw: chosen on held-out scores, reported
nested.

In-distribution validation rows flatter a model: unseen benign sources are flagged far more
often than they predict. So each category's thresholds are chosen on the scores of sources
the scoring model was trained without. The recipe is fitted twice, each time without one
half of the held-out groups (`GROUP_FOLDS`, whose halves each hold sources of every
category), and scores the half it did not see; every source then has scores from a model
that never saw it.

Thresholds are chosen by the targets, source by source (each source counts once, as in the
held-out report): the most mean recall over malicious sources while ordinary benign sources
(prompts, prose) are flagged at most `ordinary` on average and hard negatives (contrast
statements, look-alikes, security prompts) at most `hard`, each point past a budget costing
a set number of points of recall. A category's threshold
applies to the rows whose most probable kind it is, so the categories are chosen together,
one at a time over a grid until none moves. The review band is chosen the same way with
looser budgets, the block band with tighter ones.

Nested: the figures reported for one half are those of thresholds chosen on the other half
only, so no source takes part in choosing the thresholds it is measured with. The shipped
thresholds are then chosen on both halves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from consumer.model.classifier import Policy, Thresholds
from consumer.training.datasets import MALICIOUS, Example
from consumer.training.heldout import (
    GROUP_FOLDS,
    HARD_NEGATIVE_SOURCES,
    fold_sources,
    held_out_rows,
)
from consumer.training.recipes import Recipe, fit_recipe, recipe_examples

__all__ = [
    "BUDGETS",
    "Budget",
    "HeldOutScores",
    "choose_held_out_policy",
    "held_out_scores",
    "nested_report",
]

#: Rows scored per held-out source and category (a seeded sample).
MAX_ROWS = 2000
_GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)
#: Past its budget, each point of mean false-positive rate over ordinary benign sources
#: costs this many points of mean recall, and over hard negatives this many (a bag of words
#: cannot keep look-alikes within their budget at any useful threshold: held to it as
#: firmly, it gave up half its recall of harmful requests; docs/model.md).
_PENALTY_ORDINARY = 10.0
_PENALTY_HARD = 3.0
_ORDINARY = frozenset({"benign_prompt", "benign_prose"})


@dataclass(frozen=True)
class Budget:
    """Mean false-positive rates allowed over ordinary benign sources and hard negatives."""

    ordinary: float
    hard: float


#: The label's budgets are the targets (ordinary prompts <= 3 %, prose <= 2 %; look-alikes
#: and contrast statements <= 10 %); review may flag twice as much, block a sixth as much.
BUDGETS: dict[str, Budget] = {
    "threshold": Budget(0.025, 0.10),
    "review_threshold": Budget(0.06, 0.20),
    "block_threshold": Budget(0.004, 0.015),
}


@dataclass(frozen=True)
class HeldOutScores:
    """Rows of held-out sources with the score of a model that never saw them."""

    source: np.ndarray  # source name per row
    category: np.ndarray  # training category per row
    half: np.ndarray  # 1 or 2: the half of GROUP_FOLDS the row's source is in
    malicious: np.ndarray  # bool
    proba: np.ndarray  # calibrated P(malicious)
    kind: np.ndarray  # the most probable kind of harm (a category name)

    def subset(self, mask: np.ndarray) -> HeldOutScores:
        return HeldOutScores(
            self.source[mask],
            self.category[mask],
            self.half[mask],
            self.malicious[mask],
            self.proba[mask],
            self.kind[mask],
        )


def held_out_scores(
    examples: Sequence[Example], recipe: Recipe, seed: int, max_rows: int = MAX_ROWS
) -> HeldOutScores:
    """Fit the recipe without each half of the held-out groups; score the half it lacks."""
    columns: dict[str, list[Any]] = defaultdict(list)
    for half in (1, 2):
        held = fold_sources(half)
        fitted = fit_recipe(recipe_examples(examples, recipe, seed, exclude=held), recipe, seed)
        kinds = fitted.categories or ("",)
        for (source, category), rows in held_out_rows(examples, held, max_rows, seed):
            proba = fitted.model.predict_proba([e.text for e in rows])
            top = proba[:, 2:].argmax(axis=1) if fitted.categories else np.zeros(len(rows), int)
            columns["source"] += [source] * len(rows)
            columns["category"] += [category] * len(rows)
            columns["half"] += [half] * len(rows)
            columns["malicious"] += [e.label == MALICIOUS for e in rows]
            columns["proba"] += proba[:, 1].tolist()
            columns["kind"] += [kinds[t] for t in top.tolist()]
    return HeldOutScores(
        np.asarray(columns["source"], dtype=object),
        np.asarray(columns["category"], dtype=object),
        np.asarray(columns["half"], dtype=np.int8),
        np.asarray(columns["malicious"], dtype=bool),
        np.asarray(columns["proba"], dtype=np.float64),
        np.asarray(columns["kind"], dtype=object),
    )


class _Rates:
    """Per-source flag rates of one set of scores, fast enough for a grid search."""

    def __init__(self, scores: HeldOutScores, kinds: Sequence[str]) -> None:
        keys = [f"{s}:{c}" for s, c in zip(scores.source, scores.category, strict=True)]
        names, first, self.index = np.unique(
            np.asarray(keys, dtype=object), return_index=True, return_inverse=True
        )
        self.rows = np.bincount(self.index, minlength=len(names)).astype(np.float64)
        source, category = scores.source[first].tolist(), scores.category[first].tolist()
        #: (source, category) of each rate, in the order `rates` gives them.
        self.keys = list(zip(source, category, strict=True))
        self.malicious = np.array([not c.startswith("benign") for c in category])
        self.ordinary = np.array(
            [
                c in _ORDINARY and s not in HARD_NEGATIVE_SOURCES
                for c, s in zip(category, source, strict=True)
            ]
        )
        self.hard = ~self.malicious & ~self.ordinary
        self.proba = scores.proba
        lookup = {k: i for i, k in enumerate(kinds)}
        self.kind = np.array([lookup.get(k, 0) for k in scores.kind], dtype=np.int64)

    def flags(self, thresholds: np.ndarray) -> np.ndarray:
        """Each row flagged by its most probable kind's threshold."""
        return self.proba >= thresholds[self.kind]

    def rates(self, thresholds: np.ndarray) -> np.ndarray:
        flagged = self.flags(thresholds)
        return np.bincount(self.index, weights=flagged, minlength=len(self.rows)) / self.rows

    def value(self, thresholds: np.ndarray, budget: Budget) -> float:
        rates = self.rates(thresholds)
        recall = _mean(rates[self.malicious])
        ordinary = max(0.0, _mean(rates[self.ordinary]) - budget.ordinary)
        hard = max(0.0, _mean(rates[self.hard]) - budget.hard)
        return recall - _PENALTY_ORDINARY * ordinary - _PENALTY_HARD * hard


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def _choose(rates: _Rates, kinds: Sequence[str], budget: Budget, start: float) -> np.ndarray:
    """Each kind's threshold, one kind at a time over the grid until none moves."""
    thresholds = np.full(max(len(kinds), 1), start, dtype=np.float64)
    for _ in range(5):
        moved = False
        for k in range(len(thresholds)):
            best, best_value = thresholds[k], rates.value(thresholds, budget)
            for t in _GRID:
                trial = thresholds.copy()
                trial[k] = t
                value = rates.value(trial, budget)
                if value > best_value + 1e-9:
                    best, best_value = t, value
            if best != thresholds[k]:
                thresholds[k] = best
                moved = True
        if not moved:
            break
    return thresholds


def choose_held_out_policy(
    scores: HeldOutScores, kinds: Sequence[str], model: Policy, start: float | None = None
) -> Policy:
    """The model's policy with each kind's thresholds chosen on `scores` (a model without
    kinds gets its own three thresholds chosen the same way)."""
    rates = _Rates(scores, kinds)
    start = model.threshold if start is None else start
    chosen = {field: _choose(rates, kinds, budget, start) for field, budget in BUDGETS.items()}
    label = chosen["threshold"]
    review = np.minimum(chosen["review_threshold"], label)
    block = np.maximum(chosen["block_threshold"], label)
    if not kinds:
        return Policy(model.positive_label, float(label[0]), float(review[0]), float(block[0]))
    categories = {
        kind: Thresholds(float(label[k]), float(review[k]), float(block[k]))
        for k, kind in enumerate(kinds)
    }
    return Policy(
        model.positive_label,
        model.threshold,
        model.review_threshold,
        model.block_threshold,
        categories,
    )


def nested_report(
    scores: HeldOutScores, kinds: Sequence[str], model: Policy, harm: dict[str, str]
) -> dict[str, Any]:
    """Each half measured with thresholds chosen on the other half only: per training
    category, the mean flag rate over its sources (recall for malicious ones), and the
    share of flagged malicious rows named with their own kind of harm."""
    by_key: dict[tuple[str, str], float] = {}
    right = flagged_malicious = 0
    thresholds: dict[str, Any] = {}
    for half in (1, 2):
        chosen_on = scores.subset(scores.half != half)
        measured = scores.subset(scores.half == half)
        if not len(chosen_on.proba) or not len(measured.proba):
            continue
        policy = choose_held_out_policy(chosen_on, kinds, model)
        thresholds[f"half_{half}"] = policy.to_manifest()
        rates = _Rates(measured, kinds)
        table = np.array([policy.for_category(k).threshold for k in kinds] or [policy.threshold])
        by_key.update(zip(rates.keys, rates.rates(table).tolist(), strict=True))
        hit = rates.flags(table) & measured.malicious
        if kinds:
            truth = np.array([harm.get(c, "") for c in measured.category[hit]], dtype=object)
            right += int((measured.kind[hit] == truth).sum())
        flagged_malicious += int(hit.sum())
    per_category: dict[str, list[float]] = defaultdict(list)
    for (_, category), rate in by_key.items():
        per_category[category].append(rate)
    summary = {
        category: {
            "measure": "fpr" if category.startswith("benign") else "recall",
            "mean_over_sources": round(float(np.mean(rates)), 4),
            "sources": len(rates),
        }
        for category, rates in sorted(per_category.items())
    }
    return {
        "categories": summary,
        "sources": {f"{s}:{c}": round(v, 4) for (s, c), v in sorted(by_key.items())},
        "right_category_of_flagged_malicious": (
            round(right / flagged_malicious, 4) if kinds and flagged_malicious else None
        ),
        "thresholds_by_half": thresholds,
        "halves": [list(half) for half in GROUP_FOLDS],
    }
