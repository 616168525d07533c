"""A model from one labelled file (CSV, TSV or JSONL of `text` and `label`):

    content-classifier train --data FILE --out FOLDER --name NAME

Word and character n-grams with balanced class weights, measured on a stratified 80/20
split and refitted on every row.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from consumer.model.artifact import save_model
from consumer.model.classifier import Policy
from consumer.model.textprep import normalize_batch
from consumer.quality.drift import ScoreBaseline
from consumer.training.cards import file_model_card
from consumer.training.datasets import BENIGN, MALICIOUS
from consumer.training.recipes import DEFAULT_SEED, TrainingDataError

__all__ = ["build_pipeline", "read_labelled_file", "train_file"]


def build_pipeline(seed: int = DEFAULT_SEED) -> Pipeline:
    """Normalised text -> word 1-2-grams + character 2-5-grams -> logistic regression."""
    features = FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    min_df=3,
                    max_features=300_000,
                    sublinear_tf=True,
                ),
            ),
        ]
    )
    return Pipeline(
        [
            ("normalize", FunctionTransformer(normalize_batch)),
            ("features", features),
            (
                "classifier",
                LogisticRegression(
                    C=4.0, class_weight="balanced", max_iter=2000, random_state=seed
                ),
            ),
        ]
    )


def read_labelled_file(path: Path) -> tuple[list[str], list[str]]:
    """Rows of `text` and `label` from a CSV (with a header) or JSONL file."""
    if not path.is_file():
        raise TrainingDataError(f"training file {path} does not exist")
    texts: list[str] = []
    labels: list[str] = []
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        with path.open("rb") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise TrainingDataError(f"{path}:{number}: not JSON: {exc}") from None
                _append(texts, labels, row, f"{path}:{number}")
    elif path.suffix.lower() in {".csv", ".tsv"}:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        with path.open(newline="", encoding="utf-8") as fh:
            for number, row in enumerate(csv.DictReader(fh, delimiter=delimiter), 2):
                _append(texts, labels, row, f"{path}:{number}")
    else:
        raise TrainingDataError(f"{path}: expected a .csv, .tsv or .jsonl file")
    if len(set(labels)) < 2:
        raise TrainingDataError(f"{path}: needs at least two labels, found {sorted(set(labels))}")
    return texts, labels


def _append(texts: list[str], labels: list[str], row: Any, where: str) -> None:
    if not isinstance(row, dict) or "text" not in row or "label" not in row:
        raise TrainingDataError(f"{where}: each row needs 'text' and 'label'")
    text, label = row["text"], row["label"]
    if isinstance(text, str) and text.strip() and label not in (None, ""):
        texts.append(text)
        labels.append(str(label))


def _fit_and_measure(
    texts: Sequence[str], labels: Sequence[str], seed: int, positive: str | None
) -> tuple[Pipeline, dict[str, Any], ScoreBaseline]:
    """Measure on a stratified 80/20 split, then refit on everything; the score baseline is
    the held-out 20 %'s."""
    started = time.monotonic()
    train_x, test_x, train_y, test_y = train_test_split(
        list(texts), list(labels), test_size=0.2, random_state=seed, stratify=list(labels)
    )
    held_out = build_pipeline(seed).fit(train_x, train_y)
    predicted = held_out.predict(test_x)
    metrics: dict[str, Any] = {"random_split": {"test_rows": len(test_y)}}
    if positive is not None:
        metrics["random_split"].update(
            f1=round(float(f1_score(test_y, predicted, pos_label=positive)), 4),
            precision=round(float(precision_score(test_y, predicted, pos_label=positive)), 4),
            recall=round(float(recall_score(test_y, predicted, pos_label=positive)), 4),
        )
    metrics["random_split"]["accuracy"] = round(float(np.mean(predicted == np.asarray(test_y))), 4)
    proba = held_out.predict_proba(test_x)
    scores = proba[:, list(held_out.classes_).index(positive)] if positive else proba.max(axis=1)
    model = build_pipeline(seed).fit(list(texts), list(labels))
    metrics["training_seconds"] = round(time.monotonic() - started, 1)
    return model, metrics, ScoreBaseline.from_scores(scores)


def train_file(path: Path, out: Path, *, name: str, version: str, seed: int = DEFAULT_SEED) -> Path:
    """Train, measure and save a model folder from one labelled file."""
    texts, labels = read_labelled_file(path)
    classes = sorted(set(labels))
    positive = MALICIOUS if classes == [BENIGN, MALICIOUS] else None
    model, metrics, baseline = _fit_and_measure(texts, labels, seed, positive)
    counts = Counter(labels)
    return save_model(
        out,
        model,
        name=name,
        version=version,
        policy=Policy(positive_label=positive),
        extra={
            "recipe": "file",
            "seed": seed,
            "training_data": [{"path": path.name, "rows": len(texts)}],
            "label_counts": dict(counts),
            "metrics": metrics,
            "score_baseline": baseline.to_manifest("quantile bins of the held-out 20 %'s scores"),
        },
        model_card=file_model_card(name, version, metrics, path.name, counts),
    )
