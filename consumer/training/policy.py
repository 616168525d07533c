"""Choosing a decision policy and measuring it: F-beta thresholds, a high-precision block
band, calibration error and binary metrics on out-of-fold probabilities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from consumer.model.classifier import Policy
from consumer.model.transformer import ScoreMap
from consumer.training.datasets import MALICIOUS

__all__ = [
    "PolicyTargets",
    "binary_metrics",
    "choose_policy",
    "cross_fitted",
    "expected_calibration_error",
    "fbeta_threshold",
    "isotonic_map",
    "precision_threshold",
]


class PolicyTargets(Protocol):
    """The targets a policy is chosen for, as a training recipe (`Recipe`) sets them.

    A protocol rather than the recipe itself: the recipes choose their policy here, so this
    module must not import them back.
    """

    @property
    def beta(self) -> float: ...  # F-beta of the threshold

    @property
    def review_beta(self) -> float: ...  # F-beta (recall-leaning) of the review band

    @property
    def block_precision(self) -> float: ...  # out-of-fold precision of the block band


def fbeta_threshold(proba: np.ndarray, y: np.ndarray, beta: float) -> tuple[float, float]:
    """(threshold, F-beta) maximising F-beta over the distinct probabilities."""
    order = np.argsort(-proba, kind="mergesort")
    p_sorted, y_sorted = proba[order], y[order].astype(np.float64)
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(1.0 - y_sorted)
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tp, fp, thresholds = tp[last_of_tie], fp[last_of_tie], p_sorted[last_of_tie]
    positives = max(float(y.sum()), 1.0)
    precision = tp / np.maximum(tp + fp, 1.0)
    recall = tp / positives
    b2 = beta * beta
    fbeta = (1 + b2) * precision * recall / np.maximum(b2 * precision + recall, 1e-12)
    best = int(np.argmax(fbeta))
    return float(thresholds[best]), float(fbeta[best])


def precision_threshold(proba: np.ndarray, y: np.ndarray, target: float) -> float | None:
    """The lowest threshold above which precision never drops below `target`."""
    order = np.argsort(-proba, kind="mergesort")
    p_sorted, y_sorted = proba[order], y[order].astype(np.float64)
    tp = np.cumsum(y_sorted)
    precision = tp / np.arange(1, len(y_sorted) + 1)
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    ok = (precision >= target) & last_of_tie
    bad = np.flatnonzero(last_of_tie & (precision < target))
    limit = bad[0] if bad.size else len(p_sorted)
    candidates = np.flatnonzero(ok[:limit])
    return float(p_sorted[candidates[-1]]) if candidates.size else None


def choose_policy(proba: np.ndarray, y: np.ndarray, recipe: PolicyTargets) -> Policy:
    """Threshold by F-beta; review band from a recall-leaning F-beta; block at high precision."""
    threshold, _ = fbeta_threshold(proba, y, recipe.beta)
    review, _ = fbeta_threshold(proba, y, recipe.review_beta)
    block = precision_threshold(proba, y, recipe.block_precision)
    threshold = round(threshold, 4)
    review_at = round(min(review, threshold), 4)
    block_at = round(max(block if block is not None else threshold, threshold), 4)
    return Policy(
        positive_label=MALICIOUS,
        threshold=threshold,
        review_threshold=review_at if review_at < threshold else None,
        block_threshold=block_at,
    )


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width bins: the mean |accuracy - confidence|, weighted by bin size."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if proba.size == 0:
        return 0.0
    index = np.minimum((proba * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - proba[mask].mean())
    return float(total / proba.size)


def binary_metrics(proba: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    """F1, precision, recall, accuracy and ECE of `proba` at `threshold` (y: 1 malicious)."""
    predicted = proba >= threshold
    return {
        "f1": round(float(f1_score(y, predicted, zero_division=0)), 4),
        "precision": round(float(precision_score(y, predicted, zero_division=0)), 4),
        "recall": round(float(recall_score(y, predicted, zero_division=0)), 4),
        "accuracy": round(float(accuracy_score(y, predicted)), 4),
        "ece": round(expected_calibration_error(proba, y), 4),
        "rows": len(y),
    }


def cross_fitted(
    score: np.ndarray,
    y: np.ndarray,
    fit: Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]],
    seed: int,
    folds: int = 2,
) -> np.ndarray:
    """Probabilities of each row from a map `fit` on the other folds' rows."""
    order = np.random.default_rng(seed).permutation(len(score))
    out = np.empty(len(score), dtype=np.float64)
    for part in np.array_split(order, folds):
        rest = np.setdiff1d(order, part, assume_unique=True)
        out[part] = fit(score[rest], y[rest])(score[part])
    return out


def isotonic_map(margin: np.ndarray, y: np.ndarray) -> ScoreMap:
    """An isotonic fit of P(malicious) on a margin, as the knots a transformer's manifest keeps."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip").fit(margin, y)
    return ScoreMap(
        tuple(float(v) for v in iso.X_thresholds_), tuple(float(v) for v in iso.y_thresholds_)
    )
