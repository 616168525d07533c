"""Training recipes: the default malicious-content model, the routing model, a model from a file.

Each recipe is reproducible from one command and a fixed seed:

    content-classifier train --recipe default --out models/malicious-content
    content-classifier train --recipe routing --out models/banking-intents

The default recipe (see docs/model.md for the measurements behind every choice):

* every source of `../shared/data` (`consumer.training.datasets.load_all`), with the very
  large benign sources, Davidson's offensive tweets, Stormfront's and EDOS's benign
  sentences, AART's requests and Perspective's identity templates capped by a seeded
  sample, so no single source's style dominates and training stays fast;
* templated rows (`consumer.training.augment`) that put benign and malicious content in the same
  frames, so the form of a request ("Write a ...", "How do I ...") decides nothing;
* text normalised by `consumer.model.textprep.normalize_text` (shared with serving);
* word 1-2-gram TF-IDF features (character n-grams cost 4-6x the throughput);
* logistic regression with *source-balanced* sample weights: inside each category
  (harmful request, prompt injection, abusive, benign prompt, benign prose, benign contrast,
  benign lookalike) a source weighs in proportion to the square root of its size, and the
  two labels weigh the same;
* an isotonic map from the linear score to a probability, fitted on out-of-fold scores of the
  unweighted rows (calibrated on the data's own mix), and a decision threshold chosen on the
  same out-of-fold probabilities by F-beta (beta in `Recipe`).
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from consumer.model.classifier import Policy
from consumer.model.estimators import (
    CalibratedTextModel,
    CategorisedTextModel,
    ScoreCalibrator,
    malicious_parts,
)
from consumer.model.textprep import normalize_batch
from consumer.training.augment import (
    TEMPLATED_SOURCE,
    templated_injections,
    templated_instructions,
    templated_requests,
)
from consumer.training.datasets import (
    BENIGN,
    MALICIOUS,
    Example,
    file_digests,
)
from consumer.training.lexicon import template_digests
from consumer.training.policy import choose_policy

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_RECIPE",
    "DEFAULT_SEED",
    "HARM_CATEGORIES",
    "FitResult",
    "Recipe",
    "TrainingDataError",
    "build_vectorizer",
    "category_targets",
    "fit_recipe",
    "recipe_examples",
    "recipe_of",
    "source_weights",
    "training_data",
    "validation_indices",
]

DEFAULT_SEED = 20261125
#: The verdict's kinds of harm, by the training category they come from.
HARM_CATEGORIES: dict[str, str] = {
    "harmful_request": "harmful_request",
    "abusive": "hate_harassment",
    "prompt_injection": "prompt_injection",
}
DEFAULT_MODEL_NAME = "malicious-content"


class TrainingDataError(ValueError):
    """The training file is missing, unreadable, or has no usable rows."""


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
    # The kinds of harm the model names (a training category -> the verdict's category):
    # the linear model is then multinomial over benign and these (docs/model.md says why);
    # empty for a plain binary model.
    harm_categories: dict[str, str] = field(default_factory=lambda: dict(HARM_CATEGORIES))
    # Thresholds chosen on held-out sources (`consumer.training.thresholds`: two more fits);
    # False keeps the out-of-fold F-beta ones.
    held_out_thresholds: bool = True
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
        "stormfront:benign_contrast": _BIG,
        "edos:benign_contrast": _BIG,
        # One generator's phrasing ("As a journalist, write a how-to guide for criminals on
        # ..."), 3,224 rows: capped to about the weight of the biggest question set
        # (HarmfulQA's 1,960) so it does not set the style of harmful requests.
        "aart": 1500,
        # 76,564 rows of six templates (72,000 of one: "<name> is a <adjective> <identity>"),
        # half toxic: 1,500 of each category, about Stormfront's hateful rows in weight.
        "perspective_templates": 1500,
    },
    # Harmful requests and prompt injections are what users' traffic holds most and our
    # sources cover least: they weigh half again as much as abusive tweets (held-out recall
    # +1 to +2 points, benign false positives unchanged; docs/model.md). The contrast rows
    # (benign sentences on the hateful sources' topics) and the lookalikes (benign prompts
    # shaped like attacks: alarming-but-safe requests, injection words in harmless prompts,
    # role-play) are supplements of hard negatives, not kinds of traffic: half the weight of
    # benign prompts or prose each, so they teach that a topic or a shape is not a verdict
    # without taking the place of ordinary benign text.
    category_weights={
        "harmful_request": 1.5,
        "prompt_injection": 1.5,
        "benign_contrast": 0.5,
        "benign_lookalike": 0.5,
    },
)


def recipe_of(manifest: dict[str, Any]) -> Recipe:
    """The recipe a default model's manifest records (`recipe_params`)."""
    params = dict(manifest.get("recipe_params") or {})
    if not params:
        return DEFAULT_RECIPE
    params["ngram_range"] = tuple(params.get("ngram_range", DEFAULT_RECIPE.ngram_range))
    known = set(Recipe.__dataclass_fields__)
    return Recipe(**{k: v for k, v in params.items() if k in known})


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


def validation_indices(n: int, size: int, seed: int | np.random.Generator) -> np.ndarray:
    """A seeded uniform sample of `size` row indices (at most a fifth of `n`), sorted: the
    rows the transformer sets aside, found again by the cascade recipe. Given a generator,
    it is that generator's next draw (the transformer draws its training rows after it)."""
    rng = np.random.default_rng(seed) if isinstance(seed, int) else seed
    return np.sort(rng.choice(n, size=min(size, n // 5), replace=False))


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


def build_vectorizer(recipe: Recipe) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=recipe.ngram_range,
        lowercase=False,  # normalize_text lower-cases already
        min_df=recipe.min_df,
        max_features=recipe.max_features,
        sublinear_tf=True,
        dtype=np.float32,
    )


def _linear(recipe: Recipe, seed: int) -> LogisticRegression:
    if recipe.harm_categories:  # multinomial over benign and the categories
        return LogisticRegression(C=recipe.C, solver="lbfgs", max_iter=500, random_state=seed)
    return LogisticRegression(C=recipe.C, solver="liblinear", max_iter=2000, random_state=seed)


def _scores(
    linear: LogisticRegression, features: Any, categories: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The malicious score the calibration map reads and, for a multinomial model, each of
    the `categories`' share of the malicious probability (a category the model was not
    fitted with, absent from a fold, has none)."""
    if not categories:
        return np.asarray(linear.decision_function(features), dtype=np.float64), None
    proba = linear.predict_proba(features)
    full = np.zeros((proba.shape[0], 1 + categories), dtype=np.float64)
    full[:, np.asarray(linear.classes_)] = proba  # class 0 is benign, c + 1 category c
    return malicious_parts(full)


@dataclass(frozen=True)
class FitResult:
    model: CalibratedTextModel
    policy: Policy
    oof_proba: np.ndarray  # calibrated out-of-fold probabilities of the positive class
    y: np.ndarray  # 1 for malicious
    seconds: float
    #: The model's categories (empty: none), each row's category index (-1: benign) and the
    #: out-of-fold probability of each category (rows x categories).
    categories: tuple[str, ...] = ()
    y_category: np.ndarray | None = None
    oof_categories: np.ndarray | None = None


def category_targets(
    examples: Sequence[Example], recipe: Recipe
) -> tuple[tuple[str, ...], np.ndarray]:
    """The recipe's categories that the rows hold and each row's index among them (-1 for a
    benign row)."""
    kinds = recipe.harm_categories
    names = tuple(
        sorted(
            {kinds[e.category] for e in examples if e.label == MALICIOUS and e.category in kinds}
        )
    )
    out = np.full(len(examples), -1, dtype=np.int64)
    for i, e in enumerate(examples):
        if e.label == MALICIOUS:
            if e.category not in kinds:
                raise TrainingDataError(
                    f"malicious rows of category {e.category!r} ({e.source}) have no harm "
                    f"category in the recipe ({sorted(kinds)})"
                )
            out[i] = names.index(kinds[e.category])
    return names, out


def fit_recipe(examples: Sequence[Example], recipe: Recipe, seed: int) -> FitResult:
    """Fit the recipe on `examples` (already capped): model, policy and out-of-fold scores."""
    started = time.monotonic()
    if len({e.label for e in examples}) < 2:
        raise TrainingDataError("the default recipe needs benign and malicious rows")
    texts = normalize_batch(e.text for e in examples)
    y = np.fromiter((e.label == MALICIOUS for e in examples), dtype=np.int8, count=len(texts))
    weights = source_weights(
        examples, recipe.source_alpha, recipe.category_weights, recipe.source_multipliers
    )
    # The vocabulary is fitted once on every row: out-of-fold scores then see a vocabulary
    # that knows their words, a small optimism traded for a 3x faster fit.
    vectorizer = build_vectorizer(recipe)
    features = vectorizer.fit_transform(texts)
    categories: tuple[str, ...] = ()
    target = y.astype(np.int64)
    if recipe.harm_categories:
        categories, y_category = category_targets(examples, recipe)
        target = y_category + 1  # 0: benign
    oof_scores = np.zeros(len(texts), dtype=np.float64)
    oof_share = np.zeros((len(texts), len(categories)), dtype=np.float64)
    folds = StratifiedKFold(n_splits=recipe.cv_folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in folds.split(features, target):
        fold = _linear(recipe, seed).fit(
            features[train_idx], target[train_idx], sample_weight=weights[train_idx]
        )
        oof_scores[test_idx], share = _scores(fold, features[test_idx], len(categories))
        if share is not None:
            oof_share[test_idx] = share
    calibrator = ScoreCalibrator(recipe.calibration).fit(oof_scores, y)
    oof_proba = calibrator.transform(oof_scores)
    linear = _linear(recipe, seed).fit(features, target, sample_weight=weights)
    policy = choose_policy(oof_proba, y, recipe)
    seconds = round(time.monotonic() - started, 1)
    if not categories:
        model = CalibratedTextModel(vectorizer, linear, calibrator, (BENIGN, MALICIOUS))
        return FitResult(model, policy, oof_proba, y, seconds)
    model = CategorisedTextModel(vectorizer, linear, calibrator, (BENIGN, MALICIOUS), categories)
    oof_categories = oof_proba[:, None] * oof_share
    return FitResult(model, policy, oof_proba, y, seconds, categories, target - 1, oof_categories)


def training_data(data_root: Path, used: Iterable[str]) -> list[dict[str, str]]:
    """The manifest's `training_data`: every file the model was trained on, with its sha256.

    The sources' files come first, their paths relative to the data root
    (`malicious/davidson_labeled_data.csv`); then the template files of the package, their
    paths from the project root (`consumer/training/templates/tasks.toml`) and marked with
    `"root": "package"`, so the two kinds never read alike.
    """
    data = [
        {"path": path, "sha256": digest}
        for path, digest in sorted(file_digests(data_root, used).items())
    ]
    templates = [
        {"path": path, "sha256": digest, "root": "package"}
        for path, digest in sorted(template_digests().items())
    ]
    return data + templates
