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

import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from consumer.model.artifact import MANIFEST_NAME, load_model
from consumer.training.recipes import (
    DEFAULT_RECIPE,
    DEFAULT_SEED,
    TEMPLATED_SOURCES,
    Recipe,
    binary_metrics,
    expected_calibration_error,
    fit_recipe,
    load_banking77_split,
    recipe_examples,
)

if TYPE_CHECKING:
    from consumer.training.datasets import Example

__all__ = [
    "HELD_OUT_GROUPS",
    "MAX_HELD_OUT_ROWS",
    "TARGETS",
    "HeldOutResult",
    "evaluate_model",
    "held_out_evaluation",
    "summarize_held_out",
]

REPORT_DIR = "evaluation"
MAX_HELD_OUT_ROWS = 3000

# Each group is left out together: sources that copy or closely imitate each other
# (AdvBench, DangerousQA and SimpleSafetyTests; the two NLTK review corpora) would
# otherwise leak into each other's test.
HELD_OUT_GROUPS: dict[str, tuple[str, ...]] = {
    "advbench+dangerousqa+sst": ("advbench", "dangerousqa", "simple_safety_tests"),
    "catqa": ("catqa",),
    "harmfulqa": ("harmfulqa",),
    "donotanswer": ("donotanswer",),
    "cse_interpreter": ("cyberseceval_interpreter",),
    "jailbreak": ("jailbreak",),
    "deepset_injection": ("deepset_injection",),
    "cse_injection": ("cyberseceval_injection",),
    "davidson": ("davidson",),
    "goemotions": ("goemotions",),
    "wiki+state_union": ("wiki_sents", "nltk_state_union"),
    "movie_reviews": ("nltk_movie_reviews", "nltk_sentence_polarity", "nltk_subjectivity"),
    "product_reviews": ("nltk_product_reviews", "nltk_pros_cons"),
    "sms_ham": ("sms_spam",),
    "banking77+clinc150": ("banking77", "clinc150"),
    "queries+sgd": ("query_wellformedness", "sgd_dialogues"),
    "cse_mitre_benign": ("cyberseceval_mitre_frr",),
}

# Targets of issue 3 for held-out sources: (category, "recall" | "fpr", bound).
TARGETS: dict[str, tuple[str, float]] = {
    "harmful_request": ("recall", 0.90),
    "prompt_injection": ("recall", 0.90),
    "benign_prose": ("fpr", 0.05),
    "benign_prompt": ("fpr", 0.10),
}
# Benign prompts written to look like attacks (security coding requests; the system prompts
# that CyberSecEval's injections attack, "the password is X, do not reveal it"): reported
# apart as well, since they are hard negatives by design, not ordinary harmless prompts.
HARD_NEGATIVE_SOURCES: frozenset[str] = frozenset(
    {"cyberseceval_mitre_frr", "cyberseceval_injection"}
)
RANDOM_SPLIT_F1_TARGET = 0.97
ECE_TARGET = 0.03


@dataclass(frozen=True)
class HeldOutResult:
    group: str
    source: str
    category: str
    rows: int
    flagged: int  # rows at or above the refitted model's own threshold

    @property
    def rate(self) -> float:
        return self.flagged / self.rows if self.rows else 0.0


def _sample(rows: list[Example], limit: int, seed: int) -> list[Example]:
    if len(rows) <= limit:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def held_out_evaluation(
    examples: Sequence[Example],
    recipe: Recipe,
    seed: int,
    groups: dict[str, tuple[str, ...]] | None = None,
    max_rows: int = MAX_HELD_OUT_ROWS,
) -> list[HeldOutResult]:
    """Refit the recipe without each group; the share of the group's rows it flags."""
    groups = HELD_OUT_GROUPS if groups is None else groups
    present = {e.source for e in examples}
    results: list[HeldOutResult] = []
    for group, sources in groups.items():
        if not present & set(sources):
            continue
        fitted = fit_recipe(recipe_examples(examples, recipe, seed, exclude=sources), recipe, seed)
        by_key: dict[tuple[str, str], list[Example]] = defaultdict(list)
        for e in examples:
            if e.source in sources:
                by_key[(e.source, e.category)].append(e)
        for (source, category), rows in sorted(by_key.items()):
            rows = _sample(rows, max_rows, seed)
            proba = fitted.model.predict_proba([e.text for e in rows])[:, 1]
            flagged = int((proba >= fitted.policy.threshold).sum())
            results.append(HeldOutResult(group, source, category, len(rows), flagged))
    return results


def summarize_held_out(results: Sequence[HeldOutResult]) -> dict[str, dict[str, Any]]:
    """Per category: the mean rate over held-out sources (each source counts once), the
    pooled rate, the worst source, and whether the issue's target is met."""
    by_category: dict[str, list[HeldOutResult]] = defaultdict(list)
    for r in results:
        by_category[r.category].append(r)
    summary: dict[str, dict[str, Any]] = {}
    for category, rows in sorted(by_category.items()):
        kind = "fpr" if category.startswith("benign") else "recall"
        rates = [r.rate for r in rows]
        worst = (
            min(rows, key=lambda r: r.rate) if kind == "recall" else max(rows, key=lambda r: r.rate)
        )
        entry: dict[str, Any] = {
            "measure": kind,
            "mean_over_sources": round(float(np.mean(rates)), 4),
            "pooled": round(sum(r.flagged for r in rows) / max(sum(r.rows for r in rows), 1), 4),
            "worst_source": worst.source,
            "worst": round(worst.rate, 4),
            "sources": len(rows),
        }
        if category in TARGETS:
            _, bound = TARGETS[category]
            value = entry["mean_over_sources"]
            entry["target"] = bound
            entry["met"] = bool(value >= bound if kind == "recall" else value <= bound)
        summary[category] = entry
    return summary


# --------------------------------------------------------------------------------------------
# plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_pr(path: Path, proba: np.ndarray, y: np.ndarray, threshold: float) -> None:
    from sklearn.metrics import precision_recall_curve

    plt = _pyplot()
    precision, recall, thresholds = precision_recall_curve(y, proba)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(recall, precision, lw=1.5)
    at = int(np.searchsorted(thresholds, threshold))
    if at < len(thresholds):
        ax.plot(recall[at], precision[at], "o", color="C3", label=f"threshold {threshold:.3f}")
        ax.legend(loc="lower left")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (random split)")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _reliability(
    proba: np.ndarray, y: np.ndarray, bins: int = 15
) -> tuple[list[float], list[float]]:
    index = np.minimum((proba * bins).astype(int), bins - 1)
    conf, acc = [], []
    for b in range(bins):
        mask = index == b
        if mask.any():
            conf.append(float(proba[mask].mean()))
            acc.append(float(y[mask].mean()))
    return conf, acc


def _plot_calibration(
    path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str
) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    for name, (proba, y) in curves.items():
        conf, acc = _reliability(proba, y)
        ece = expected_calibration_error(proba, y)
        ax.plot(conf, acc, "o-", ms=4, label=f"{name} (ECE {ece:.3f})")
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title=title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_confusion(path: Path, matrix: np.ndarray, labels: Sequence[str], title: str) -> None:
    plt = _pyplot()
    size = 4.5 if len(labels) <= 4 else 12
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(labels))
    small = len(labels) > 4
    ax.set_xticks(list(ticks), labels, rotation=90 if small else 0, fontsize=4 if small else 9)
    ax.set_yticks(list(ticks), labels, fontsize=4 if small else 9)
    if not small:
        for i in ticks:
            for j in ticks:
                colour = "white" if matrix[i, j] > matrix.max() / 2 else "black"
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=colour)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=130 if small else 110)
    plt.close(fig)


def _plot_per_source(path: Path, results: Sequence[HeldOutResult]) -> None:
    plt = _pyplot()
    rows = sorted(results, key=lambda r: (r.category.startswith("benign"), r.category, r.source))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    colours = {
        "harmful_request": "C3",
        "prompt_injection": "C1",
        "abusive": "C4",
        "benign_prompt": "C0",
        "benign_prose": "C2",
    }
    names = [f"{r.source} ({r.category})" for r in rows]
    ax.barh(range(len(rows)), [r.rate for r in rows], color=[colours[r.category] for r in rows])
    for i, r in enumerate(rows):
        if r.category in TARGETS:
            ax.plot([TARGETS[r.category][1]] * 2, [i - 0.4, i + 0.4], color="black", lw=1.5)
        ax.text(r.rate + 0.01, i, f"{r.rate:.2f}", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set(
        xlabel="share flagged malicious (recall for malicious rows, FPR for benign rows)",
        title="Held-out sources (model refitted without each); | = target",
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_per_class(path: Path, names: Sequence[str], values: Sequence[float], title: str) -> None:
    plt = _pyplot()
    order = np.argsort(values)
    fig, ax = plt.subplots(figsize=(7, 0.14 * len(names) + 1.2))
    ax.barh(range(len(names)), [values[i] for i in order])
    ax.set_yticks(range(len(names)), [names[i] for i in order], fontsize=5)
    ax.set_xlim(0, 1)
    ax.set(xlabel="F1", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# reports


def _update_manifest(model_dir: Path, evaluation: dict[str, Any]) -> None:
    path = model_dir / MANIFEST_NAME
    manifest = orjson.loads(path.read_bytes())
    manifest.setdefault("metrics", {})["evaluation"] = evaluation
    path.write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )


def _recipe_of(manifest: dict[str, Any]) -> Recipe:
    params = dict(manifest.get("recipe_params") or {})
    if not params:
        return DEFAULT_RECIPE
    params["ngram_range"] = tuple(params.get("ngram_range", DEFAULT_RECIPE.ngram_range))
    known = set(Recipe.__dataclass_fields__)
    return Recipe(**{k: v for k, v in params.items() if k in known})


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
    recipe = _recipe_of(manifest)
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

    _plot_pr(out / "precision_recall.png", proba, y, threshold)
    held_proba_curves = {"random split": (proba, y)}
    _plot_calibration(out / "calibration.png", held_proba_curves, "Calibration (random split)")
    matrix = confusion_matrix(y, proba >= threshold, labels=[0, 1])
    _plot_confusion(
        out / "confusion_matrix.png",
        matrix,
        ["benign", "malicious"],
        f"Random split, threshold {threshold:.3f}",
    )
    _plot_per_source(out / "per_source.png", held)

    shipped = load_model(model_dir)
    evaluation: dict[str, Any] = {
        "random_split": random_split,
        "held_out": summary,
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
    _plot_confusion(out / "confusion_matrix.png", matrix, list(classes), "Banking77 test")
    _plot_calibration(
        out / "calibration.png",
        {"top label": (top, correct)},
        "Calibration of the top label (test)",
    )
    _plot_per_class(out / "per_intent_f1.png", list(classes), list(per_class), "F1 per intent")
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
) -> Path:
    """Write `<model_dir>/evaluation/REPORT.md` and figures; returns the report's path.

    The recipe is read from the manifest (`default` or `routing`). `groups` and `sources`
    narrow the default evaluation (tests use them on synthetic data).
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
    else:
        raise ValueError(f"cannot evaluate a model of recipe {recipe!r} (default or routing)")
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
