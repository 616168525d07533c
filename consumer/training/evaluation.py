"""Evaluation that measures what users will see: a report in `<model>/evaluation/`.

For the default (malicious-content) recipe, two views side by side:

* a **random split**: the recipe refitted on 80 % of its rows, scored on the other 20 %
  (precision-recall curve, calibration curve, confusion matrix, F1, ECE);
* **held-out sources**: for each group of sources, the recipe refitted without the group and
  scored on all of its rows (at most `MAX_HELD_OUT_ROWS` a source). Recall for the malicious
  categories, false-positive rate for the benign ones: the figures a user whose traffic looks
  like none of our sources will see.

For the routing recipe: accuracy, macro F1, a confusion matrix and per-intent F1 on the
official test split, computed with the shipped model itself.

`evaluate_model` writes `REPORT.md` and PNG figures, and merges a summary into the model's
manifest (`metrics.evaluation`); the model file and its sha256 are untouched.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from consumer.model.artifact import MANIFEST_NAME, load_model
from consumer.training.augment import TEMPLATED_SOURCES
from consumer.training.contrast import evaluate_suite, suite_lines, suite_summary
from consumer.training.heldout import (
    ECE_TARGET,
    HARD_NEGATIVE_SOURCES,
    MAX_HELD_OUT_ROWS,
    RANDOM_SPLIT_F1_TARGET,
    TARGETS,
    held_out_evaluation,
    summarize_held_out,
)
from consumer.training.plots import (
    plot_calibration,
    plot_confusion,
    plot_per_class,
    plot_per_source,
    plot_pr,
)
from consumer.training.policy import binary_metrics, expected_calibration_error
from consumer.training.recipes import (
    DEFAULT_SEED,
    fit_recipe,
    recipe_examples,
    recipe_of,
)
from consumer.training.routing import load_banking77_split

__all__ = ["REPORT_DIR", "evaluate_model"]

REPORT_DIR = "evaluation"


def _update_manifest(model_dir: Path, evaluation: dict[str, Any]) -> None:
    path = model_dir / MANIFEST_NAME
    manifest = orjson.loads(path.read_bytes())
    manifest.setdefault("metrics", {})["evaluation"] = evaluation
    path.write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )


def _evaluate_default(
    model_dir: Path,
    data_root: Path,
    seed: int,
    manifest: dict[str, Any],
    groups: dict[str, tuple[str, ...]] | None,
    sources: Sequence[str] | None,
) -> tuple[str, dict[str, Any]]:
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import train_test_split

    from consumer.training.datasets import load_all

    started = time.monotonic()
    out = model_dir / REPORT_DIR
    recipe = recipe_of(manifest)
    examples = load_all(data_root, sources)
    rows = recipe_examples(examples, recipe, seed)
    strata = [f"{e.source}:{e.label}" for e in rows]
    counts: dict[str, int] = defaultdict(int)
    for s in strata:
        counts[s] += 1
    strata = [s if counts[s] >= 5 else s.rsplit(":", 1)[1] for s in strata]
    train_rows, test_rows = train_test_split(
        rows, test_size=0.2, random_state=seed, stratify=strata
    )
    fitted = fit_recipe(train_rows, recipe, seed)
    # templated rows train, but are not what users send: the test holds real rows only
    test_rows = [e for e in test_rows if e.source not in TEMPLATED_SOURCES]
    proba = fitted.model.predict_proba([e.text for e in test_rows])[:, 1]
    y = np.array([e.label == "malicious" for e in test_rows], dtype=np.int8)
    threshold = fitted.policy.threshold
    random_split = binary_metrics(proba, y, threshold)
    random_split["threshold"] = threshold
    not_davidson = np.array([e.source != "davidson" for e in test_rows])
    if not_davidson.any() and (~not_davidson).any():
        random_split["f1_without_davidson"] = binary_metrics(
            proba[not_davidson], y[not_davidson], threshold
        )["f1"]
        random_split["f1_davidson_only"] = binary_metrics(
            proba[~not_davidson], y[~not_davidson], threshold
        )["f1"]

    held = held_out_evaluation(examples, recipe, seed, groups)
    summary = summarize_held_out(held)
    ordinary = summarize_held_out(
        [r for r in held if r.category == "benign_prompt" and r.source not in HARD_NEGATIVE_SOURCES]
    )
    if "benign_prompt" in ordinary:
        summary["benign_prompt_ordinary"] = ordinary["benign_prompt"]

    plot_pr(out / "precision_recall.png", proba, y, threshold)
    held_proba_curves = {"random split": (proba, y)}
    plot_calibration(out / "calibration.png", held_proba_curves, "Calibration (random split)")
    matrix = confusion_matrix(y, proba >= threshold, labels=[0, 1])
    plot_confusion(
        out / "confusion_matrix.png",
        matrix,
        ["benign", "malicious"],
        f"Random split, threshold {threshold:.3f}",
    )
    plot_per_source(out / "per_source.png", held)

    shipped = load_model(model_dir)
    suite = evaluate_suite(shipped)
    evaluation: dict[str, Any] = {
        "random_split": random_split,
        "held_out": summary,
        "contrast_suite": suite_summary(suite),
        "seed": seed,
        "seconds": round(time.monotonic() - started),
    }
    targets = [
        (
            "random-split F1",
            random_split["f1"],
            f">= {RANDOM_SPLIT_F1_TARGET}",
            random_split["f1"] >= RANDOM_SPLIT_F1_TARGET,
        ),
        (
            "ECE (random split)",
            random_split["ece"],
            f"<= {ECE_TARGET}",
            random_split["ece"] <= ECE_TARGET,
        ),
    ]
    for category, (kind, bound) in TARGETS.items():
        if category in summary:
            entry = summary[category]
            op = ">=" if kind == "recall" else "<="
            targets.append(
                (
                    f"held-out {kind} {category} (mean over sources)",
                    entry["mean_over_sources"],
                    f"{op} {bound}",
                    entry["met"],
                )
            )
    if "benign_prompt_ordinary" in summary:
        entry = summary["benign_prompt_ordinary"]
        targets.append(
            (
                "held-out fpr benign_prompt without the security-flavoured hard negatives "
                "(mitre_frr, CSE system prompts)",
                entry["mean_over_sources"],
                "<= 0.1",
                entry["met"],
            )
        )
    lines = [
        f"# Evaluation: {shipped.name} {shipped.version}",
        "",
        f"Recipe refitted with seed {seed}; data root `{data_root.name}`; "
        f"{len(rows)} rows after caps; {evaluation['seconds']} s. "
        f"Shipped policy: threshold {shipped.policy.threshold}, review from "
        f"{shipped.policy.review_threshold}, block from {shipped.policy.block_threshold}.",
        "",
        "## Targets (issue 3)",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
        *(
            f"| {name} | {value} | {bound} | {'yes' if ok else '**no**'} |"
            for name, value, bound, ok in targets
        ),
        "",
        "## Random split (80/20, stratified by source and label)",
        "",
        "The recipe refitted on 80 % of its rows (threshold chosen on that part's out-of-fold "
        "probabilities), scored on the other 20 %.",
        "",
        "| " + " | ".join(random_split) + " |",
        "|" + "---|" * len(random_split),
        "| " + " | ".join(str(v) for v in random_split.values()) + " |",
        "",
        "![precision-recall](precision_recall.png) ![calibration](calibration.png) "
        "![confusion matrix](confusion_matrix.png)",
        "",
        "## Held-out sources",
        "",
        "For each group the recipe is refitted without the group's sources, threshold and "
        "calibration included, and scores the group's rows (at most "
        f"{MAX_HELD_OUT_ROWS} a source). Malicious rows: recall; benign rows: false-positive "
        "rate.",
        "",
        "| category | measure | mean over sources | pooled | worst source | target |",
        "|---|---|---|---|---|---|",
        *(
            f"| {cat} | {e['measure']} | {e['mean_over_sources']} | {e['pooled']} | "
            f"{e['worst_source']} ({e['worst']}) | {e.get('target', '-')} |"
            for cat, e in summary.items()
        ),
        "",
        "| held-out group | source | category | rows | flagged | rate |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r.group} | {r.source} | {r.category} | {r.rows} | {r.flagged} | {r.rate:.3f} |"
            for r in held
        ),
        "",
        "![per-source rates](per_source.png)",
        "",
        *suite_lines(suite),
    ]
    return "\n".join(lines), evaluation


def _evaluate_routing(model_dir: Path, data_root: Path, seed: int) -> tuple[str, dict[str, Any]]:
    from sklearn.metrics import confusion_matrix, f1_score

    out = model_dir / REPORT_DIR
    shipped = load_model(model_dir)
    texts, labels = load_banking77_split(data_root, "test")
    proba = np.asarray(shipped.estimator.predict_proba(texts))
    classes = np.asarray(shipped.labels)
    predicted = classes[proba.argmax(axis=1)]
    correct = (predicted == np.asarray(labels)).astype(np.float64)
    top = proba.max(axis=1)
    per_class = f1_score(labels, predicted, labels=list(classes), average=None)
    evaluation: dict[str, Any] = {
        "official_test": {
            "accuracy": round(float(correct.mean()), 4),
            "macro_f1": round(float(np.mean(per_class)), 4),
            "ece_top_label": round(expected_calibration_error(top, correct), 4),
            "rows": len(labels),
        },
        "seed": seed,
    }
    matrix = confusion_matrix(labels, predicted, labels=list(classes))
    plot_confusion(out / "confusion_matrix.png", matrix, list(classes), "Banking77 test")
    plot_calibration(
        out / "calibration.png",
        {"top label": (top, correct)},
        "Calibration of the top label (test)",
    )
    plot_per_class(out / "per_intent_f1.png", list(classes), list(per_class), "F1 per intent")
    worst = np.argsort(per_class)[:10]
    t: dict[str, Any] = evaluation["official_test"]
    lines = [
        f"# Evaluation: {shipped.name} {shipped.version}",
        "",
        "The shipped model on Banking77's official test split (never seen in training).",
        "",
        "| accuracy | macro F1 | top-label ECE | rows |",
        "|---|---|---|---|",
        f"| {t['accuracy']} | {t['macro_f1']} | {t['ece_top_label']} | {t['rows']} |",
        "",
        "Ten weakest intents (F1): "
        + ", ".join(f"`{classes[i]}` {per_class[i]:.2f}" for i in worst),
        "",
        "![confusion matrix](confusion_matrix.png) ![calibration](calibration.png) "
        "![per-intent F1](per_intent_f1.png)",
        "",
    ]
    return "\n".join(lines), evaluation


def evaluate_model(
    model_dir: Path,
    data_root: Path,
    *,
    seed: int = DEFAULT_SEED,
    groups: dict[str, tuple[str, ...]] | None = None,
    sources: Sequence[str] | None = None,
    fold_models: Sequence[Path] | None = None,
    extra_cascades: Sequence[Path] = (),
    scores_cache: Path | None = None,
) -> Path:
    """Write `<model_dir>/evaluation/REPORT.md` and figures; returns the report's path.

    The recipe is read from the manifest (`default`, `routing`, `transformer` or `cascade`).
    `groups` and `sources` narrow the default evaluation (tests use them on synthetic data);
    a transformer or cascade needs the two `fold_models` (`consumer.training.family_evaluation`).
    """
    model_dir = Path(model_dir)
    manifest = orjson.loads((model_dir / MANIFEST_NAME).read_bytes())
    (model_dir / REPORT_DIR).mkdir(parents=True, exist_ok=True)
    recipe = manifest.get("recipe", "default")
    if recipe == "routing":
        report, evaluation = _evaluate_routing(model_dir, data_root, seed)
    elif recipe == "default":
        report, evaluation = _evaluate_default(
            model_dir, data_root, seed, manifest, groups, sources
        )
    elif recipe in ("transformer", "cascade"):
        from consumer.training.family_evaluation import evaluate_family

        if not fold_models:
            raise ValueError(
                f"a {recipe} model is measured on held-out sources by its fold models: give "
                "--fold-models (train --recipe transformer --held-out-fold 1, then 2)"
            )
        report, evaluation = evaluate_family(
            model_dir,
            data_root,
            fold_models,
            seed=seed,
            sources=sources,
            extra_cascades=extra_cascades,
            scores_cache=scores_cache,
        )
    else:
        raise ValueError(
            f"cannot evaluate a model of recipe {recipe!r} (default, routing, transformer, cascade)"
        )
    path = model_dir / REPORT_DIR / "REPORT.md"
    path.write_text(report, encoding="utf-8")
    _update_manifest(model_dir, evaluation)
    _update_card(model_dir, report)
    return path


_CARD_MARKER = "<!-- evaluation summary: written by content-classifier evaluate -->"


def _update_card(model_dir: Path, report: str) -> None:
    """Replace the card's evaluation summary with the report's first table."""
    card_path = model_dir / "MODEL_CARD.md"
    if not card_path.is_file():
        return
    card = card_path.read_text(encoding="utf-8").split(_CARD_MARKER)[0].rstrip()
    table: list[str] = []
    for line in report.splitlines():
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    section = [
        "",
        "",
        _CARD_MARKER,
        "## Evaluation summary",
        "",
        "From `evaluation/REPORT.md` (figures and per-source tables there).",
        "",
        *table,
        "",
    ]
    card_path.write_text(card + "\n".join(section), encoding="utf-8")
