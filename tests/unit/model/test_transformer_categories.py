"""The transformer family and the cascade name kinds of harm: a head of benign and one logit
per kind, its margin the malicious log-odds, its kinds sharing out the calibrated
probability; a cascade over stages that name them does too."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from consumer.model.artifact import load_model, save_model
from consumer.model.cascade import Cascade
from consumer.model.classifier import Policy
from consumer.model.transformer import kind_shares, margin_of
from tests.conftest import labelled_texts
from tests.tiny_encoder import build_tiny_cascade, build_tiny_transformer
from tests.unit.model.test_categories import KINDS, _fitted

TEXTS = [text for text, _ in labelled_texts(40, seed=5)]


def test_the_margin_is_the_malicious_log_odds_and_two_logits_keep_their_difference() -> None:
    logits = np.array([[0.5, 1.0, -1.0, 2.0], [1.0, -2.0, -2.0, -2.0]])
    p_malicious = 1 - np.exp(logits[:, 0]) / np.exp(logits).sum(axis=1)
    assert np.allclose(1 / (1 + np.exp(-margin_of(logits))), p_malicious)
    assert np.allclose(kind_shares(logits).sum(axis=1), 1.0)
    binary = np.array([[0.2, 1.7], [3.0, -1.0]])
    assert np.allclose(margin_of(binary), binary[:, 1] - binary[:, 0])


def test_a_transformer_with_kinds_of_harm_names_them(tmp_path: Path) -> None:
    folder = build_tiny_transformer(tmp_path / "t", categories=KINDS)
    classifier = load_model(folder)
    assert classifier.categories == KINDS and classifier.manifest["categories"] == list(KINDS)
    proba = classifier.estimator.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), 2 + len(KINDS))
    assert np.allclose(proba[:, 2:].sum(axis=1), proba[:, 1])
    for p in classifier.classify(TEXTS):
        assert p.categories is not None and set(p.categories) == set(KINDS)
        assert (p.category is not None) == (p.label == "malicious")


def test_a_cascade_over_stages_with_kinds_names_them(tmp_path: Path) -> None:
    fast = save_model(
        tmp_path / "fast", _fitted(), name="fast", version="1", policy=Policy("malicious", 0.5)
    )
    transformer = build_tiny_transformer(tmp_path / "t", categories=KINDS)
    folder = build_tiny_cascade(
        tmp_path / "cascade", fast, transformer, seed=3, rows=200, version="1"
    )
    classifier = load_model(folder)
    assert classifier.categories == KINDS
    proba = classifier.estimator.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), 2 + len(KINDS))
    assert np.allclose(proba[:, 2:].sum(axis=1), proba[:, 1], atol=1e-6)
    assert isinstance(classifier.estimator, Cascade)
    counts = classifier.estimator.stage_counts()
    assert counts["fast"] + counts["transformer"] == len(TEXTS)


def test_a_binary_transformer_keeps_two_columns(tiny_transformer_path: Path) -> None:
    classifier = load_model(tiny_transformer_path)
    assert classifier.categories == ()
    assert classifier.estimator.predict_proba(TEXTS).shape == (len(TEXTS), 2)
