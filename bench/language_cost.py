"""What naming the kind of harm and the language costs: `Classifier.classify` of a model with
categories, with and without language identification, against a baseline model, side by side.

    .venv/bin/python -m bench.language_cost --baseline build/mc-041 [--model MODEL]

All three score the same texts (a seeded sample of the recipe's rows, in batches of 500, the
worker's default batch), interleaved rep by rep so they see the same machine load; the figures
are texts per second, the median of the reps, and their ratios in this one run.
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import replace
from pathlib import Path

from bench._measure import texts_per_second
from consumer.model.artifact import load_model
from consumer.training.datasets import default_data_root, load_all
from consumer.training.recipes import DEFAULT_RECIPE, DEFAULT_SEED, recipe_examples

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/malicious-content")
    parser.add_argument("--baseline", required=True, help="the model to compare with")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    root = Path(args.data_root) if args.data_root else default_data_root()
    rows = recipe_examples(load_all(root), DEFAULT_RECIPE, DEFAULT_SEED)
    texts = [e.text for e in random.Random(DEFAULT_SEED).sample(rows, args.texts)]
    model = load_model(args.model)
    baseline = replace(load_model(args.baseline), identify_language=False)
    runs = {
        f"{baseline.name} {baseline.version} (baseline, no language)": baseline.classify,
        f"{model.name} {model.version}, no language": replace(
            model, identify_language=False
        ).classify,
        f"{model.name} {model.version}, with language": model.classify,
    }
    for classify in runs.values():
        classify(texts[:1000])  # warm up
    seen: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, classify in runs.items():
            seen[name].append(texts_per_second(classify, texts, args.batch))
    first = statistics.median(next(iter(seen.values())))
    print(f"| classify ({args.texts:,} texts, batches of {args.batch}) | texts/s | ratio |")
    print("|---|---|---|")
    for name, values in seen.items():
        median = statistics.median(values)
        print(f"| {name} | {median:,.0f} | {median / first:.2f} |")


if __name__ == "__main__":
    main()
