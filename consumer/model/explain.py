"""Why a linear model scored a text as it did: each of its words' (and word pairs') share
of the decision score.

A linear model's decision score is a sum over the text's features, `weight x tf-idf`, so each
feature's term is its exact contribution; the largest ones, either way, are what pushed the
score. Models that are not linear over named features (the transformer, the cascade, a
hashing vectoriser) have no such explanation: `explain` says so with None rather than guess.

A multinomial model over benign and kinds of harm (`CategorisedTextModel`) is explained
towards the text's most probable kind: each feature's term of that kind's log-odds against
benign (its weight for the kind less its weight for benign).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from consumer.model.textprep import normalize_batch

__all__ = ["Contribution", "explain", "explainable"]


class Contribution(NamedTuple):
    #: The word or word pair, as the model's vectoriser saw it (normalised).
    feature: str
    #: Its term of the decision score: positive pushes towards the positive label (or,
    #: for a model with kinds of harm, towards the text's most probable kind).
    weight: float


def _parts(estimator: Any) -> tuple[Any, np.ndarray] | None:
    vectorizer = getattr(estimator, "vectorizer", None)
    coef = getattr(getattr(estimator, "linear", None), "coef_", None)
    if vectorizer is None or coef is None or not hasattr(vectorizer, "get_feature_names_out"):
        return None
    coef = np.asarray(coef)
    if coef.ndim != 2:
        return None
    if coef.shape[0] == 1:
        return vectorizer, coef
    if getattr(estimator, "categories_", None) is not None and coef.shape[0] > 2:
        return vectorizer, coef - coef[0]  # row 0, benign: each kind against it
    return None


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
    weights = coef[0]
    if coef.shape[0] > 1:  # towards the most probable kind of harm
        kinds = np.asarray(row @ coef[1:].T).ravel() + _intercepts(estimator)[1:]
        weights = coef[1 + int(np.argmax(kinds))]
    contributions = row.data.astype(np.float64) * weights[row.indices]
    order = np.argsort(-np.abs(contributions))[:top]
    return [
        Contribution(str(names[row.indices[i]]), round(float(contributions[i]), 4)) for i in order
    ]


def _intercepts(estimator: Any) -> np.ndarray:
    """Each kind's intercept against benign's."""
    intercept = np.asarray(estimator.linear.intercept_, dtype=np.float64)
    return intercept - intercept[0]
