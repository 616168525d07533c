"""The shipped malicious-content model: the default recipe fitted on every source, its
thresholds chosen on held-out sources (`consumer.training.thresholds`), its manifest and
model card.

    content-classifier train --recipe default --out models/malicious-content
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from consumer.model.artifact import save_model
from consumer.quality.drift import ScoreBaseline
from consumer.training.cards import default_model_card
from consumer.training.datasets import load_all
from consumer.training.datasets import sources as source_catalogue
from consumer.training.policy import binary_metrics, expected_calibration_error
from consumer.training.recipes import (
    DEFAULT_MODEL_NAME,
    DEFAULT_RECIPE,
    DEFAULT_SEED,
    FitResult,
    Recipe,
    fit_recipe,
    recipe_examples,
    training_data,
)
from consumer.training.thresholds import (
    choose_held_out_policy,
    held_out_scores,
    nested_report,
)

__all__ = ["category_metrics", "train_default"]


def category_metrics(fitted: FitResult) -> dict[str, Any]:
    """Out of fold: the share of flagged malicious rows given their own category, and each
    category's expected calibration error (its probability against being of that kind)."""
    if not fitted.categories or fitted.oof_categories is None or fitted.y_category is None:
        return {}
    kinds, truth = fitted.oof_categories, fitted.y_category
    flagged = (fitted.oof_proba >= fitted.policy.threshold) & (truth >= 0)
    right = kinds[flagged].argmax(axis=1) == truth[flagged]
    return {
        "category_accuracy_flagged": round(float(right.mean()), 4) if right.size else None,
        "category_ece": {
            name: round(expected_calibration_error(kinds[:, i], truth == i), 4)
            for i, name in enumerate(fitted.categories)
        },
    }


def train_default(
    data_root: Path,
    out: Path,
    *,
    version: str,
    seed: int = DEFAULT_SEED,
    recipe: Recipe = DEFAULT_RECIPE,
    sources: Iterable[str] | None = None,
) -> Path:
    """The shipped malicious-content model, from the sources in `../shared/data`: fitted on
    every source; with `recipe.held_out_thresholds`, its thresholds chosen on the scores of
    models fitted without each half of the held-out groups, and the nested figures in its
    manifest (`metrics.held_out_thresholds`)."""
    loaded = load_all(data_root, sources)
    examples = recipe_examples(loaded, recipe, seed)
    fitted = fit_recipe(examples, recipe, seed)
    policy = fitted.policy
    held_out: dict[str, Any] = {}
    if recipe.held_out_thresholds:
        scores = held_out_scores(loaded, recipe, seed)
        if len(scores.proba):
            policy = choose_held_out_policy(scores, fitted.categories, fitted.policy)
            held_out = nested_report(
                scores, fitted.categories, fitted.policy, recipe.harm_categories
            )
    catalogue = source_catalogue()
    used = sorted({e.source for e in examples} & set(catalogue))
    metrics = {
        "cross_validated": {
            "folds": recipe.cv_folds,
            **binary_metrics(fitted.oof_proba, fitted.y, fitted.policy.threshold),
            **category_metrics(fitted),
        },
        "training_seconds": fitted.seconds,
    }
    if held_out:
        metrics["held_out_thresholds"] = held_out
    source_counts = dict(sorted(Counter(e.source for e in examples).items()))
    return save_model(
        out,
        fitted.model,
        name=DEFAULT_MODEL_NAME,
        version=version,
        policy=policy,
        extra={
            "recipe": "default",
            # Every source is English (a few rows in other languages are left out): text in
            # another language is sent to review (`consumer.model.language`).
            "languages": ["en"],
            "recipe_params": recipe.to_manifest(),
            "seed": seed,
            "training_data": training_data(data_root, used),
            "sources": {name: catalogue[name].licence for name in used},
            "label_counts": dict(sorted(Counter(e.label for e in examples).items())),
            "source_counts": source_counts,
            "metrics": metrics,
            "score_baseline": ScoreBaseline.from_scores(fitted.oof_proba).to_manifest(),
        },
        model_card=default_model_card(
            DEFAULT_MODEL_NAME, version, metrics, used, source_counts, policy
        ),
    )
