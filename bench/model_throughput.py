"""predict_proba throughput: the shipped model vs a plain word 1-2-gram TF-IDF + LR, side by side.

    .venv/bin/python -m bench.model_throughput [--model models/malicious-content] [--reps 5]

Both models score the same texts (a seeded sample of the recipe's rows), in batches of 1000,
interleaved rep by rep so both see the same machine load; the baseline is trained here on the
same rows as the recipe (no normalisation, scikit-learn defaults). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from bench._measure import texts_per_second
from consumer.model.artifact import load_model
from consumer.training.datasets import default_data_root, load_all
from consumer.training.recipes import DEFAULT_RECIPE, DEFAULT_SEED, recipe_examples

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/malicious-content")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    root = Path(args.data_root) if args.data_root else default_data_root()
    rows = recipe_examples(load_all(root), DEFAULT_RECIPE, DEFAULT_SEED)
    texts_all = [e.text for e in rows]
    labels = [e.label for e in rows]
    baseline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=2000)
    ).fit(texts_all, labels)
    shipped = load_model(args.model)
    texts = random.Random(DEFAULT_SEED).sample(texts_all, min(args.texts, len(texts_all)))

    # warm up both (first-call allocations, lazy imports)
    shipped.estimator.predict_proba(texts[: args.batch])
    baseline.predict_proba(texts[: args.batch])
    ours: list[float] = []
    plain: list[float] = []
    for _ in range(args.reps):
        ours.append(texts_per_second(shipped.estimator.predict_proba, texts, args.batch))
        plain.append(texts_per_second(baseline.predict_proba, texts, args.batch))
    ratios = [o / p for o, p in zip(ours, plain, strict=True)]
    mean_chars = statistics.mean(len(t) for t in texts)
    print(
        f"{len(texts)} texts (mean {mean_chars:.0f} chars), batch {args.batch}, "
        f"{args.reps} repetitions, one process\n"
    )
    print("| model | texts/s (median) | min | max |")
    print("|---|---|---|---|")
    print(
        f"| {shipped.name} {shipped.version} | {statistics.median(ours):,.0f} | "
        f"{min(ours):,.0f} | {max(ours):,.0f} |"
    )
    print(
        f"| plain word 1-2-gram TF-IDF + LR | {statistics.median(plain):,.0f} | "
        f"{min(plain):,.0f} | {max(plain):,.0f} |"
    )
    print(
        f"\nratio shipped / plain (median of per-rep ratios): {statistics.median(ratios):.2f} "
        f"(target >= 0.5)"
    )


if __name__ == "__main__":
    main()
