"""Training recipes: the default malicious-content model, the routing model, a model from a file.

Each recipe is reproducible from one command and a fixed seed:

    content-classifier train --recipe default --out models/malicious-content
    content-classifier train --recipe routing --out models/banking-intents

The default recipe (see docs/model.md for the measurements behind every choice):

* every source of `../shared/data` (`consumer.training.datasets.load_all`), with the very
  large benign sources and Davidson's offensive tweets capped by a seeded sample, so no single
  source's style dominates and training stays fast;
* templated rows (`consumer.training.augment`) that put benign and malicious content in the same
  frames, so the form of a request ("Write a ...", "How do I ...") decides nothing;
* text normalised by `consumer.model.textprep.normalize_text` (shared with serving);
* word 1-2-gram TF-IDF features (character n-grams cost 4-6x the throughput);
* logistic regression with *source-balanced* sample weights: inside each category
  (harmful request, prompt injection, abusive, benign prompt, benign prose) a source weighs
  in proportion to the square root of its size, and the two labels weigh the same;
* an isotonic map from the linear score to a probability, fitted on out-of-fold scores of the
  unweighted rows (calibrated on the data's own mix), and a decision threshold chosen on the
  same out-of-fold probabilities by F-beta (beta in `Recipe`).
"""

from __future__ import annotations

import csv
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from consumer.model.artifact import save_model
from consumer.model.classifier import Policy
from consumer.model.estimators import CalibratedTextModel, ScoreCalibrator
from consumer.model.textprep import normalize_batch
from consumer.training.augment import (
    AUGMENT_SOURCE,
    INJECTION_SOURCE,
    TEMPLATED_SOURCE,
    templated_injections,
    templated_instructions,
    templated_requests,
)

if TYPE_CHECKING:
    from consumer.training.datasets import Example

__all__ = [
    "DEFAULT_RECIPE",
    "DEFAULT_SEED",
    "ROUTING_MODEL_NAME",
    "TEMPLATED_SOURCE",
    "TEMPLATED_SOURCES",
    "FitResult",
    "Recipe",
    "TrainingDataError",
    "binary_metrics",
    "build_pipeline",
    "choose_policy",
    "expected_calibration_error",
    "fit_recipe",
    "load_banking77_split",
    "read_labelled_file",
    "recipe_examples",
    "routing_pipeline",
    "source_weights",
    "templated_instructions",
    "train_default",
    "train_file",
    "train_routing",
]

DEFAULT_SEED = 20261125
DEFAULT_MODEL_NAME = "malicious-content"
ROUTING_MODEL_NAME = "banking-intents"
POSITIVE_LABEL = "malicious"
BENIGN_LABEL = "benign"
TEMPLATED_SOURCES = (TEMPLATED_SOURCE, AUGMENT_SOURCE, INJECTION_SOURCE)


class TrainingDataError(ValueError):
    """The training file is missing, unreadable, or has no usable rows."""


# --------------------------------------------------------------------------------------------
# the default recipe


@dataclass(frozen=True)
class Recipe:
    """Everything that defines the default model besides the data and the seed."""

    # Rows kept per "source" or "source:category" (a seeded sample); others are kept whole.
    caps: dict[str, int] = field(default_factory=dict)
    # Inside a category a source weighs n**alpha (0: every source alike, 1: by size).
    source_alpha: float = 0.5
    # Relative weight of each category inside its label; each label weighs the same overall.
    category_weights: dict[str, float] = field(default_factory=dict)
    # Rows from templates (`consumer.training.augment`): benign instructions, harmful requests and
    # prompt injections in shared frames; 0 for none.
    templated_instructions: int = 6000
    templated_harmful: int = 4000
    templated_injections: int = 4000
    # Extra weight of named sources (after the balancing above): the benign templates stand
    # for all the benign instructions the data lacks.
    source_multipliers: dict[str, float] = field(default_factory=lambda: {TEMPLATED_SOURCE: 4.0})
    ngram_range: tuple[int, int] = (1, 2)
    min_df: int = 2
    max_features: int = 300_000
    C: float = 16.0
    calibration: str = "isotonic"
    cv_folds: int = 3
    # Threshold: the F-beta-optimal one on out-of-fold probabilities (beta 1: precision and
    # recall weigh the same; the review band below catches what the threshold lets through).
    beta: float = 1.0
    # `review` from the F-beta optimum with this (recall-leaning) beta; `block` where the
    # out-of-fold precision reaches `block_precision`.
    review_beta: float = 2.0
    block_precision: float = 0.97

    def to_manifest(self) -> dict[str, Any]:
        data = asdict(self)
        data["ngram_range"] = list(self.ngram_range)
        return data


_BIG = 6000
DEFAULT_RECIPE = Recipe(
    caps={
        "goemotions": 8000,
        "nltk_pros_cons": _BIG,
        "nltk_movie_reviews": _BIG,
        "nltk_sentence_polarity": _BIG,
        "nltk_product_reviews": _BIG,
        "nltk_state_union": _BIG,
        "nltk_subjectivity": _BIG,
        "wiki_sents": _BIG,
        "clinc150": _BIG,
        "banking77": _BIG,
        "query_wellformedness": _BIG,
        "davidson:abusive": 12000,
    },
    # Harmful requests and prompt injections are what users' traffic holds most and our
    # sources cover least: they weigh half again as much as abusive tweets (held-out recall
    # +1 to +2 points, benign false positives unchanged; docs/model.md).
    category_weights={"harmful_request": 1.5, "prompt_injection": 1.5},
)


def _cap_key(example: Example) -> tuple[str, str]:
    return example.source, example.category


def recipe_examples(
    examples: Sequence[Example], recipe: Recipe, seed: int, exclude: Iterable[str] = ()
) -> list[Example]:
    """The rows a recipe trains on: `exclude`d sources dropped, capped groups sampled,
    templated rows added (their benign fillers come from the rows kept)."""
    excluded = set(exclude)
    groups: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for example in examples:
        if example.source not in excluded:
            groups[_cap_key(example)].append(example)
    rng = random.Random(seed)
    out: list[Example] = []
    for (source, category), rows in sorted(groups.items()):
        cap = recipe.caps.get(f"{source}:{category}", recipe.caps.get(source))
        if cap is not None and len(rows) > cap:
            keep = sorted(rng.sample(range(len(rows)), cap))
            rows = [rows[i] for i in keep]
        out.extend(rows)
    made = templated_instructions(out, recipe.templated_instructions, seed)
    made += templated_requests(recipe.templated_harmful, seed)
    made += templated_injections(out, recipe.templated_injections, seed)
    out.extend(made)
    return out


def source_weights(
    examples: Sequence[Example],
    alpha: float,
    category_weights: dict[str, float] | None = None,
    multipliers: dict[str, float] | None = None,
) -> np.ndarray:
    """Sample weights (mean 1): labels equal, categories by `category_weights`, sources by
    n**alpha inside their category, then `multipliers` by source."""
    category_weights = category_weights or {}
    per_source = Counter(_cap_key(e) for e in examples)
    category_mass: dict[str, float] = defaultdict(float)
    for (_, category), n in per_source.items():
        category_mass[category] += n**alpha
    label_mass: dict[str, float] = defaultdict(float)
    for category, label in {(e.category, e.label) for e in examples}:
        label_mass[label] += category_weights.get(category, 1.0)
    weights = np.empty(len(examples), dtype=np.float64)
    for i, e in enumerate(examples):
        n = per_source[_cap_key(e)]
        share_of_category = n**alpha / category_mass[e.category]
        category_share = category_weights.get(e.category, 1.0) / label_mass[e.label]
        weights[i] = category_share * share_of_category / n
    if multipliers:
        weights *= np.array([multipliers.get(e.source, 1.0) for e in examples])
    return weights * (len(weights) / weights.sum())


def _vectorizer(recipe: Recipe) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=recipe.ngram_range,
        lowercase=False,  # normalize_text lower-cases already
        min_df=recipe.min_df,
        max_features=recipe.max_features,
        sublinear_tf=True,
        dtype=np.float32,
    )


def _linear(recipe: Recipe, seed: int) -> LogisticRegression:
    return LogisticRegression(C=recipe.C, solver="liblinear", max_iter=2000, random_state=seed)


@dataclass(frozen=True)
class FitResult:
    model: CalibratedTextModel
    policy: Policy
    oof_proba: np.ndarray  # calibrated out-of-fold probabilities of the positive class
    y: np.ndarray  # 1 for malicious
    seconds: float


def fit_recipe(examples: Sequence[Example], recipe: Recipe, seed: int) -> FitResult:
    """Fit the recipe on `examples` (already capped): model, policy and out-of-fold scores."""
    started = time.monotonic()
    if len({e.label for e in examples}) < 2:
        raise TrainingDataError("the default recipe needs benign and malicious rows")
    texts = normalize_batch(e.text for e in examples)
    y = np.fromiter((e.label == POSITIVE_LABEL for e in examples), dtype=np.int8, count=len(texts))
    weights = source_weights(
        examples, recipe.source_alpha, recipe.category_weights, recipe.source_multipliers
    )
    # The vocabulary is fitted once on every row: out-of-fold scores then see a vocabulary
    # that knows their words, a small optimism traded for a 3x faster fit.
    vectorizer = _vectorizer(recipe)
    features = vectorizer.fit_transform(texts)
    oof_scores = np.zeros(len(texts), dtype=np.float64)
    folds = StratifiedKFold(n_splits=recipe.cv_folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in folds.split(features, y):
        fold = _linear(recipe, seed).fit(
            features[train_idx], y[train_idx], sample_weight=weights[train_idx]
        )
        oof_scores[test_idx] = fold.decision_function(features[test_idx])
    calibrator = ScoreCalibrator(recipe.calibration).fit(oof_scores, y)
    oof_proba = calibrator.transform(oof_scores)
    linear = _linear(recipe, seed).fit(features, y, sample_weight=weights)
    model = CalibratedTextModel(vectorizer, linear, calibrator, (BENIGN_LABEL, POSITIVE_LABEL))
    policy = choose_policy(oof_proba, y, recipe)
    return FitResult(model, policy, oof_proba, y, round(time.monotonic() - started, 1))


def _fbeta_threshold(proba: np.ndarray, y: np.ndarray, beta: float) -> tuple[float, float]:
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


def _precision_threshold(proba: np.ndarray, y: np.ndarray, target: float) -> float | None:
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


def choose_policy(proba: np.ndarray, y: np.ndarray, recipe: Recipe) -> Policy:
    """Threshold by F-beta; review band from a recall-leaning F-beta; block at high precision."""
    threshold, _ = _fbeta_threshold(proba, y, recipe.beta)
    review, _ = _fbeta_threshold(proba, y, recipe.review_beta)
    block = _precision_threshold(proba, y, recipe.block_precision)
    threshold = round(threshold, 4)
    review_at = round(min(review, threshold), 4)
    block_at = round(max(block if block is not None else threshold, threshold), 4)
    return Policy(
        positive_label=POSITIVE_LABEL,
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
    predicted = proba >= threshold
    return {
        "f1": round(float(f1_score(y, predicted, zero_division=0)), 4),
        "precision": round(float(precision_score(y, predicted, zero_division=0)), 4),
        "recall": round(float(recall_score(y, predicted, zero_division=0)), 4),
        "accuracy": round(float(accuracy_score(y, predicted)), 4),
        "ece": round(expected_calibration_error(proba, y), 4),
        "rows": len(y),
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
    """The shipped malicious-content model, from the sources in `../shared/data`."""
    from consumer.training.datasets import SOURCES, file_digests, load_all

    examples = recipe_examples(load_all(data_root, sources), recipe, seed)
    fitted = fit_recipe(examples, recipe, seed)
    used = sorted({e.source for e in examples} & set(SOURCES))
    metrics = {
        "cross_validated": {
            "folds": recipe.cv_folds,
            **binary_metrics(fitted.oof_proba, fitted.y, fitted.policy.threshold),
        },
        "training_seconds": fitted.seconds,
    }
    source_counts = dict(sorted(Counter(e.source for e in examples).items()))
    return save_model(
        out,
        fitted.model,
        name=DEFAULT_MODEL_NAME,
        version=version,
        policy=fitted.policy,
        extra={
            "recipe": "default",
            "recipe_params": recipe.to_manifest(),
            "seed": seed,
            "training_data": [
                {"path": path, "sha256": digest}
                for path, digest in sorted(file_digests(data_root, used).items())
            ],
            "sources": {name: SOURCES[name].licence for name in used},
            "label_counts": dict(sorted(Counter(e.label for e in examples).items())),
            "source_counts": source_counts,
            "metrics": metrics,
        },
        model_card=default_model_card(version, metrics, used, source_counts, fitted.policy),
    )


# --------------------------------------------------------------------------------------------
# the routing recipe (Banking77 intents)


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
    from consumer.training.datasets import DataNotFoundError

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
    from consumer.training.datasets import SOURCES, file_digests

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
            "seed": seed,
            "training_data": [
                {"path": path, "sha256": digest}
                for path, digest in sorted(file_digests(data_root, ["banking77"]).items())
            ],
            "sources": {"banking77": SOURCES["banking77"].licence},
            "label_counts": dict(sorted(Counter(train_y).items())),
            "metrics": metrics,
        },
        model_card=routing_model_card(version, metrics, len(set(train_y)), len(train_y)),
    )


# --------------------------------------------------------------------------------------------
# a model from one labelled file


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
) -> tuple[Pipeline, dict[str, Any]]:
    """Measure on a stratified 80/20 split, then refit on everything."""
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
    model = build_pipeline(seed).fit(list(texts), list(labels))
    metrics["training_seconds"] = round(time.monotonic() - started, 1)
    return model, metrics


def train_file(path: Path, out: Path, *, name: str, version: str, seed: int = DEFAULT_SEED) -> Path:
    texts, labels = read_labelled_file(path)
    classes = sorted(set(labels))
    positive = POSITIVE_LABEL if classes == [BENIGN_LABEL, POSITIVE_LABEL] else None
    model, metrics = _fit_and_measure(texts, labels, seed, positive)
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
        },
        model_card=_file_card(name, version, metrics, path.name, counts),
    )


# --------------------------------------------------------------------------------------------
# model cards

_SHARE_ALIKE = (
    "Share-alike (CC-BY-SA) sources: `query_wellformedness` (Google query-wellformedness, "
    "CC-BY-SA-4.0), `sgd_dialogues` (Schema-Guided Dialogue, CC-BY-SA-4.0) and the Wikipedia "
    "text in `wiki_sents` (CLINC's sentences, CC-BY-3.0, derived from Wikipedia, CC-BY-SA). "
    "Attribution: see `../shared/data/README.md`; models derived from them are shared under "
    "the same terms where the licence requires it."
)


def default_model_card(
    version: str,
    metrics: dict[str, Any],
    sources: Sequence[str],
    source_counts: dict[str, int],
    policy: Policy,
    evaluation: dict[str, Any] | None = None,
) -> str:
    from consumer.training.datasets import SOURCES

    cv = metrics.get("cross_validated", {})
    lines = [
        f"# Model card: {DEFAULT_MODEL_NAME} {version}",
        "",
        "Flags malicious content: prompt injections and jailbreaks, plainly harmful requests, "
        "abusive and hateful text. Labels `benign` / `malicious`; the verdict's `action` is "
        "`allow`, `review` or `block`.",
        "",
        "## Model",
        "",
        "Text normalised by `consumer.model.textprep.normalize_text` (the same function serving "
        "uses), word 1-2-gram TF-IDF, logistic regression trained with source-balanced sample "
        "weights, and an isotonic calibration map fitted on out-of-fold scores. Rebuild with "
        "`content-classifier train --recipe default --out models/malicious-content` "
        "(seed in the manifest). Why this family: `docs/model.md`.",
        "",
        "## Decision policy",
        "",
        f"- `malicious` when P(malicious) >= {policy.threshold} (the F1-optimal threshold on "
        "out-of-fold probabilities, beta = 1)",
        f"- action `review` from {policy.review_threshold} (F2-optimal), `block` from "
        f"{policy.block_threshold} (out-of-fold precision >= 0.97)",
        "",
        "## Training data and licences",
        "",
        "| source | rows used | licence |",
        "|---|---|---|",
        *(
            f"| `{name}` | {source_counts.get(name, 0)} | {SOURCES[name].licence} |"
            for name in sources
        ),
        *(
            f"| `{name}` | {source_counts[name]} | generated by `consumer.training.augment` "
            "(templates; benign fillers from the sources above) |"
            for name in TEMPLATED_SOURCES
            if name in source_counts
        ),
        "",
        _SHARE_ALIKE,
        "",
        "## Intended use",
        "",
        "Screening user-generated English text and prompts sent to an LLM API in a stream, "
        "to allow, queue for human review or block. Not a sole basis for sanctions against "
        "a person.",
        "",
        "## Limits",
        "",
        "- English only (a few German injections in training); other languages are unreliable.",
        "- A bag of words: it sees vocabulary, not intent. On sources it was not trained on it "
        "catches about two thirds of harmful requests and fewer than half of prompt "
        "injections (see the evaluation report); harmful requests phrased in harmless words, "
        "and jailbreaks that avoid the usual vocabulary, pass. Benign text dense in security "
        "vocabulary (exploit, payload, attack) is flagged often.",
        "- Abusive-language labels come from one tweet corpus (Davidson et al.), whose "
        "labels are noisy and reflect its annotators; it hardly recognises abuse in other "
        "styles, and slurs reclaimed in-group are flagged.",
        "- Probabilities are calibrated on the training mix (about 1 malicious row in 4); at "
        "a lower real base rate precision is lower than reported.",
        "",
        "## Metrics",
        "",
        f"Cross-validated ({cv.get('folds', '?')}-fold, out-of-fold, on the training rows) at "
        "the threshold: " + ", ".join(f"{k} {v}" for k, v in cv.items() if k != "folds"),
        "",
    ]
    if evaluation:
        lines += [
            "Evaluation (`content-classifier evaluate`, report in `evaluation/REPORT.md`):",
            "",
            *(f"- {key}: {value}" for key, value in evaluation.items()),
            "",
        ]
    else:
        lines += [
            "Random-split and held-out-source figures: `evaluation/REPORT.md` "
            "(`content-classifier evaluate`).",
            "",
        ]
    return "\n".join(lines)


def routing_model_card(version: str, metrics: dict[str, Any], n_classes: int, n_rows: int) -> str:
    test = metrics.get("official_test", {})
    return "\n".join(
        [
            f"# Model card: {ROUTING_MODEL_NAME} {version}",
            "",
            f"Routes English banking customer queries to one of {n_classes} intents "
            "(Banking77). The verdict's `label` is the intent, `score` its probability; there "
            "is no action. Low scores mean the query is unlike any intent: route those to a "
            "human.",
            "",
            "## Model",
            "",
            "Text normalised by `consumer.model.textprep.normalize_text`, word 1-2-gram TF-IDF "
            "(20,000 features), multinomial logistic regression. Rebuild with "
            "`content-classifier train --recipe routing --out models/banking-intents`.",
            "",
            "## Training data and licence",
            "",
            f"Banking77 (PolyAI, CC-BY-4.0): the official train split, {n_rows} rows; the "
            "official test split is held out for the metrics below. No share-alike source.",
            "",
            "## Intended use and limits",
            "",
            "Routing of online-banking support queries. It knows no intent outside Banking77 "
            "(it has no out-of-scope class): any text gets one of the 77 intents, so use the "
            "score to catch out-of-scope text. English only.",
            "",
            "## Metrics (official test split)",
            "",
            *(f"- {key}: {value}" for key, value in test.items()),
            "",
            "Report with confusion figures: `evaluation/REPORT.md`.",
            "",
        ]
    )


def _file_card(
    name: str, version: str, metrics: dict[str, Any], source: str, counts: Counter[str]
) -> str:
    lines = [
        f"# Model card: {name} {version}",
        "",
        "Word 1-2-gram and character 2-5-gram TF-IDF features of normalised text "
        "(`consumer.model.textprep.normalize_text`), logistic regression with balanced class "
        "weights.",
        "",
        "## Training data",
        "",
        f"- `{source}`",
        "",
        "Rows by label: "
        + ", ".join(f"{label} {count}" for label, count in sorted(counts.items())),
        "",
        "## Evaluation",
        "",
        "Stratified random 80/20 split (the shipped model is refitted on all rows):",
        "",
        *(f"- {key}: {value}" for key, value in metrics.get("random_split", {}).items()),
        "",
    ]
    return "\n".join(lines)


def with_overrides(recipe: Recipe, **changes: Any) -> Recipe:
    """A copy of `recipe` with some fields changed (for experiments and tests)."""
    return replace(recipe, **changes)
