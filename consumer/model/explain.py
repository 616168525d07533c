"""Why a linear model scored a text as it did: each of its words' (and word pairs') share
of the decision score.

A linear model's decision score is a sum over the text's features, `weight x tf-idf`, so each
feature's term is its exact contribution; the largest ones, either way, are what pushed the
score. Models that are not linear over named features (the transformer, the cascade, a
hashing vectoriser) have no such explanation: `explain` says so with None rather than guess.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from consumer.model.textprep import normalize_batch

__all__ = ["Contribution", "explain", "explainable"]


class Contribution(NamedTuple):
    #: The word or word pair, as the model's vectoriser saw it (normalised).
    feature: str
    #: Its term of the decision score: positive pushes towards the positive label.
    weight: float


def _parts(estimator: Any) -> tuple[Any, np.ndarray] | None:
    vectorizer = getattr(estimator, "vectorizer", None)
    coef = getattr(getattr(estimator, "linear", None), "coef_", None)
    if vectorizer is None or coef is None or not hasattr(vectorizer, "get_feature_names_out"):
        return None
    coef = np.asarray(coef)
    if coef.ndim != 2 or coef.shape[0] != 1:
        return None
    return vectorizer, coef.ravel()


def explainable(estimator: Any) -> bool:
    return _parts(estimator) is not None


_NAMES: dict[int, np.ndarray] = {}


def explain(estimator: Any, text: str, top: int = 10) -> list[Contribution] | None:
    """The `top` features of `text` with the largest contributions either way, largest
    first; None for a model without per-feature weights."""
    parts = _parts(estimator)
    if parts is None:
        return None
    vectorizer, coef = parts
    names = _NAMES.get(id(vectorizer))
    if names is None:
        names = _NAMES[id(vectorizer)] = vectorizer.get_feature_names_out()
    row = vectorizer.transform(normalize_batch([text])).tocsr()
    contributions = row.data.astype(np.float64) * coef[row.indices]
    order = np.argsort(-np.abs(contributions))[:top]
    return [
        Contribution(str(names[row.indices[i]]), round(float(contributions[i]), 4)) for i in order
    ]
