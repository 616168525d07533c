"""The routing recipe: a Banking77 intent router, trained on the official train split and
measured on its test split.

    content-classifier train --recipe routing --out models/banking-intents
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from consumer.model.artifact import save_model
from consumer.model.classifier import Policy
from consumer.model.textprep import normalize_batch
from consumer.quality.drift import ScoreBaseline
from consumer.training.cards import routing_model_card
from consumer.training.datasets import DataNotFoundError, file_digests, sources
from consumer.training.policy import expected_calibration_error
from consumer.training.recipes import DEFAULT_SEED

__all__ = ["ROUTING_MODEL_NAME", "load_banking77_split", "routing_pipeline", "train_routing"]

ROUTING_MODEL_NAME = "banking-intents"


def routing_pipeline(seed: int = DEFAULT_SEED) -> Pipeline:
    """Normalised text -> word 1-2-gram TF-IDF -> multinomial logistic regression."""
    return Pipeline(
        [
            ("normalize", FunctionTransformer(normalize_batch)),
            (
                "words",
                TfidfVectorizer(
                    ngram_range=(1, 2),
                    lowercase=False,
                    min_df=2,
                    max_features=20_000,
                    sublinear_tf=True,
                    dtype=np.float32,
                ),
            ),
            # C=100: the same accuracy as C=20 and a top-label ECE of 0.03 instead of 0.10
            ("classifier", LogisticRegression(C=100.0, max_iter=3000, random_state=seed)),
        ]
    )


def load_banking77_split(data_root: Path, split: str) -> tuple[list[str], list[str]]:
    """Texts and intent labels of Banking77's `train` or `test` split."""
    path = data_root / "routing" / f"banking77_{split}.csv"
    if not path.is_file():
        raise DataNotFoundError(path)
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("text") or "").strip()
            if text and row.get("category"):
                texts.append(text)
                labels.append(row["category"].strip())
    return texts, labels


def train_routing(data_root: Path, out: Path, *, version: str, seed: int = DEFAULT_SEED) -> Path:
    """A Banking77 intent router: trained on the official train split, measured on its test."""
    started = time.monotonic()
    train_x, train_y = load_banking77_split(data_root, "train")
    test_x, test_y = load_banking77_split(data_root, "test")
    model = routing_pipeline(seed).fit(train_x, train_y)
    predicted = model.predict(test_x)
    proba = model.predict_proba(test_x).max(axis=1)
    correct = (predicted == np.asarray(test_y)).astype(np.float64)
    metrics = {
        "official_test": {
            "accuracy": round(float(correct.mean()), 4),
            "macro_f1": round(float(f1_score(test_y, predicted, average="macro")), 4),
            "ece_top_label": round(expected_calibration_error(proba, correct), 4),
            "rows": len(test_y),
        },
        "training_seconds": round(time.monotonic() - started, 1),
    }
    return save_model(
        out,
        model,
        name=ROUTING_MODEL_NAME,
        version=version,
        policy=Policy(positive_label=None),
        extra={
            "recipe": "routing",
            "languages": ["en"],
            "seed": seed,
            "training_data": [
                {"path": path, "sha256": digest}
                for path, digest in sorted(file_digests(data_root, ["banking77"]).items())
            ],
            "sources": {"banking77": sources()["banking77"].licence},
            "label_counts": dict(sorted(Counter(train_y).items())),
            "metrics": metrics,
            "score_baseline": ScoreBaseline.from_scores(proba).to_manifest(
                "quantile bins of the top label's probability on the official test split"
            ),
        },
        model_card=routing_model_card(
            ROUTING_MODEL_NAME, version, metrics, len(set(train_y)), len(train_y)
        ),
    )
