"""Estimators that model artifacts pickle: a linear text model with a calibration map.

`CalibratedTextModel` is what the default recipe ships: the shared normalisation
(`consumer.model.textprep`), a fitted text vectoriser, a linear classifier trained with source
weights, and a monotone map from its decision score to a probability fitted on out-of-fold
scores of the *unweighted* training rows. The weights stop any one source's style from
dominating; the map undoes the prior shift they cause, so probabilities are calibrated on
the data's own mix. It exposes what the worker needs: `classes_` and `predict_proba`.

`CategorisedTextModel` adds the kind of harm: its linear model is multinomial over benign
and the harm categories, and the categories' probabilities share out the calibrated
malicious probability (`consumer.model.classifier` reads the extra columns).

The class lives in the package (not in a training script) because pickles name it by module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from consumer.model.textprep import normalize_batch

__all__ = [
    "PROBA_EPS",
    "CalibratedTextModel",
    "CategorisedTextModel",
    "ScoreCalibrator",
    "malicious_log_odds",
    "malicious_parts",
]

# Calibrated probabilities are kept this far from 0 and 1: an isotonic map reaches both ends,
# and "certain" is not a claim a bag-of-words model can make.
PROBA_EPS = 1e-4


class ScoreCalibrator:
    """Decision score -> probability of the positive class: isotonic or sigmoid (Platt)."""

    def __init__(self, method: str = "isotonic") -> None:
        if method not in ("isotonic", "sigmoid"):
            raise ValueError(f"method must be 'isotonic' or 'sigmoid', not {method!r}")
        self.method = method
        self._iso: IsotonicRegression | None = None
        self._platt: LogisticRegression | None = None

    def fit(self, scores: np.ndarray, y: np.ndarray) -> ScoreCalibrator:
        scores = np.asarray(scores, dtype=np.float64).ravel()
        y = np.asarray(y).astype(np.float64).ravel()
        if self.method == "isotonic":
            self._iso = IsotonicRegression(
                y_min=PROBA_EPS, y_max=1 - PROBA_EPS, out_of_bounds="clip"
            ).fit(scores, y)
        else:
            self._platt = LogisticRegression(C=1e6).fit(scores.reshape(-1, 1), y)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if self._iso is not None:
            p = self._iso.predict(scores)
        elif self._platt is not None:
            p = self._platt.predict_proba(scores.reshape(-1, 1))[:, 1]
        else:
            raise RuntimeError("ScoreCalibrator is not fitted")
        return np.clip(p, PROBA_EPS, 1 - PROBA_EPS)


class CalibratedTextModel:
    """normalise -> vectorise -> linear score -> calibrated probability (binary)."""

    def __init__(
        self,
        vectorizer: Any,
        linear: Any,
        calibrator: ScoreCalibrator,
        classes: Sequence[str],
    ) -> None:
        if len(classes) != 2:
            raise ValueError(f"a binary model needs two classes, got {list(classes)}")
        self.vectorizer = vectorizer
        self.linear = linear
        self.calibrator = calibrator
        self.classes_ = np.asarray(list(classes), dtype=object)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        features = self.vectorizer.transform(normalize_batch(texts))
        return np.asarray(self.linear.decision_function(features), dtype=np.float64)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        positive = self.calibrator.transform(self.decision_function(list(texts)))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        proba = self.predict_proba(texts)[:, :2]  # a subclass may add columns after these
        return np.asarray(self.classes_[proba.argmax(axis=1)])


class CategorisedTextModel(CalibratedTextModel):
    """A `CalibratedTextModel` that also says which kind of harm. Its linear model is
    multinomial over ("benign", *categories), so each kind of harm is learned against the
    benign rows that look like it; the malicious probability (1 - P(benign)) goes through
    the calibration map. `predict_proba` returns [P(benign), P(malicious)] followed by
    P(malicious and of kind c) for each of `categories_`: the calibrated malicious
    probability shared out in proportion to the categories' own probabilities."""

    def __init__(
        self,
        vectorizer: Any,
        linear: Any,
        calibrator: ScoreCalibrator,
        classes: Sequence[str],
        categories: Sequence[str],
    ) -> None:
        super().__init__(vectorizer, linear, calibrator, classes)
        if len(linear.classes_) != len(categories) + 1:
            raise ValueError(
                f"the linear model has {len(linear.classes_)} classes, not 1 + {len(categories)}"
            )
        self.categories_ = np.asarray(list(categories), dtype=object)

    def _proba(self, texts: Sequence[str]) -> np.ndarray:
        """The linear model's probabilities over ("benign", *categories)."""
        features = self.vectorizer.transform(normalize_batch(list(texts)))
        return np.asarray(self.linear.predict_proba(features), dtype=np.float64)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """The malicious log-odds, 1 - P(benign) against P(benign)."""
        return malicious_log_odds(self._proba(texts))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        odds, share = malicious_parts(self._proba(texts))
        positive = self.calibrator.transform(odds)
        return np.column_stack([1.0 - positive, positive, positive[:, None] * share])


def malicious_parts(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the malicious log-odds, each kind's share of the malicious probability) of a
    multinomial model's probabilities over ("benign", *kinds)."""
    kinds = proba[:, 1:]
    share = kinds / np.maximum(kinds.sum(axis=1, keepdims=True), 1e-12)
    return malicious_log_odds(proba), share


def malicious_log_odds(proba: np.ndarray) -> np.ndarray:
    """log((1 - P(benign)) / P(benign)) of a multinomial model's probabilities (column 0 is
    benign): the score the calibration map reads."""
    benign = np.clip(proba[:, 0], 1e-12, 1 - 1e-12)
    return np.log1p(-benign) - np.log(benign)
