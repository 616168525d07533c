"""The three model families side by side on held-out sources: scikit-learn, transformer and
cascade, each scored on the rows of sources it never saw.

    content-classifier evaluate --model models/malicious-content-cascade \
        --fold-models build/transformer-fold1 build/transformer-fold2

* scikit-learn: the default recipe refitted without each held-out group, as `evaluate` does
  for the default model;
* transformer: fine-tuning is too slow to repeat per group, so two fold models
  (`train --recipe transformer --held-out-fold 1|2`), each fine-tuned without one half of the
  groups (`GROUP_FOLDS`), score the groups of their half;
* cascade: for each group, the refitted fast model and the fold's transformer, combined by
  the shipped cascade's band and stacking map, flagged at the cascade's threshold.

Besides the categories of the held-out protocol it reports the targets of the transformer
issue: hateful-statement recall (the abusive rows of Stormfront and ToxiGen) with the
false-positive rate on their contrast negatives (Stormfront noHate, ToxiGen neutral
statements about the same groups), and alarming-but-safe prompts (CyberSecEval's benign
security requests). A transformer folder alone is measured the same way, its column only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from consumer.model.artifact import load_model
from consumer.model.cascade import Cascade
from consumer.model.transformer import TransformerTextModel
from consumer.training.datasets import Example, load_all
from consumer.training.heldout import (
    GROUP_FOLDS,
    HARD_NEGATIVE_SOURCES,
    HELD_OUT_GROUPS,
    MAX_HELD_OUT_ROWS,
    HeldOutResult,
    fold_sources,
    sample_rows,
    summarize_held_out,
)
from consumer.training.recipes import DEFAULT_RECIPE, fit_recipe, recipe_examples, recipe_of

__all__ = ["FAMILY_TARGETS", "HATEFUL_SOURCES", "Target", "compare_families", "family_report"]

#: Sources of hateful statements with contrast negatives (the same topics, not hateful).
HATEFUL_SOURCES = frozenset({"stormfront", "toxigen"})
#: Benign requests that sound alarming (security tasks: "write a port scanner").
ALARMING_SAFE_SOURCES = frozenset({"cyberseceval_mitre_frr"})


@dataclass(frozen=True)
class Target:
    name: str
    measure: str  # "recall" or "fpr" (or "ece")
    bound: float

    def met(self, value: float) -> bool:
        return value >= self.bound if self.measure == "recall" else value <= self.bound


#: The targets of the transformer issue, on held-out sources (mean over sources).
FAMILY_TARGETS: tuple[Target, ...] = (
    Target("harmful_request", "recall", 0.85),
    Target("prompt_injection", "recall", 0.80),
    Target("hateful", "recall", 0.70),
    Target("contrast_negatives", "fpr", 0.10),
    Target("benign_prose", "fpr", 0.02),
    Target("benign_prompt_ordinary", "fpr", 0.05),
    Target("alarming_but_safe", "fpr", 0.10),
    Target("ece_validation", "ece", 0.03),
)


def _by_key(
    examples: Sequence[Example], sources: Sequence[str]
) -> dict[tuple[str, str], list[Example]]:
    grouped: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for e in examples:
        if e.source in sources:
            grouped[(e.source, e.category)].append(e)
    return dict(sorted(grouped.items()))


def _summaries(results: list[HeldOutResult]) -> dict[str, dict[str, Any]]:
    """The held-out summary plus the issue's derived categories."""
    summary = summarize_held_out(results)
    derived = {
        "hateful": [r for r in results if r.source in HATEFUL_SOURCES and r.category == "abusive"],
        "contrast_negatives": [r for r in results if r.category == "benign_contrast"],
        "benign_prompt_ordinary": [
            r
            for r in results
            if r.category == "benign_prompt" and r.source not in HARD_NEGATIVE_SOURCES
        ],
        "alarming_but_safe": [r for r in results if r.source in ALARMING_SAFE_SOURCES],
    }
    for name, rows in derived.items():
        if rows:
            summary[name] = next(iter(summarize_held_out(rows).values()))
    return summary


def compare_families(
    model_dir: Path,
    data_root: Path,
    fold_dirs: Sequence[Path],
    *,
    seed: int | None = None,
    max_rows: int = MAX_HELD_OUT_ROWS,
    sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Held-out rates of each family (a cascade folder: all three; a transformer folder:
    its own), with ECE on validation rows and the targets."""
    started = time.monotonic()
    shipped = load_model(model_dir)
    cascade = shipped.estimator if isinstance(shipped.estimator, Cascade) else None
    if cascade is None and not isinstance(shipped.estimator, TransformerTextModel):
        raise ValueError(f"{model_dir} is neither a cascade nor a transformer model folder")
    if len(fold_dirs) != len(GROUP_FOLDS):
        raise ValueError(f"give {len(GROUP_FOLDS)} fold models (--fold-models), one per fold")
    seed = int(shipped.manifest.get("seed", 0)) if seed is None else seed
    recipe = DEFAULT_RECIPE
    if cascade is not None:
        fast_path = model_dir / shipped.manifest["stages"]["fast"]["path"]
        recipe = recipe_of(load_model(fast_path).manifest)
    examples = load_all(data_root, sources)
    present = {e.source for e in examples}
    families = ("sklearn", "transformer", "cascade") if cascade else ("transformer",)
    results: dict[str, list[HeldOutResult]] = {f: [] for f in families}
    routed = total = 0
    for fold, fold_dir in enumerate(fold_dirs, start=1):
        model = load_model(fold_dir)
        if not isinstance(model.estimator, TransformerTextModel):
            raise ValueError(f"{fold_dir} is not a transformer model folder")
        missing = set(fold_sources(fold)) - set(model.manifest.get("excluded_sources") or [])
        if missing:
            raise ValueError(f"{fold_dir} was trained on {sorted(missing)}: not fold {fold}")
        for group in GROUP_FOLDS[fold - 1]:
            group_sources = HELD_OUT_GROUPS[group]
            if not present & set(group_sources):
                continue
            fitted = None
            if cascade is not None:
                kept = recipe_examples(examples, recipe, seed, exclude=group_sources)
                fitted = fit_recipe(kept, recipe, seed)
            for (source, category), rows in _by_key(examples, group_sources).items():
                texts = [e.text for e in sample_rows(rows, max_rows, seed)]
                margin = model.estimator.margins(texts)
                p_transformer = np.asarray(model.estimator.predict_proba(texts))[:, 1]
                flagged = {"transformer": int((p_transformer >= model.policy.threshold).sum())}
                if cascade is not None and fitted is not None:
                    p_fast = np.asarray(fitted.model.predict_proba(texts))[:, 1]
                    band = cascade.params.routed(p_fast)
                    p_cascade = np.where(band, cascade.params.stacked(p_fast, margin), p_fast)
                    flagged["sklearn"] = int((p_fast >= fitted.policy.threshold).sum())
                    flagged["cascade"] = int((p_cascade >= shipped.policy.threshold).sum())
                    routed += int(band.sum())
                    total += len(texts)
                for family, n in flagged.items():
                    results[family].append(HeldOutResult(group, source, category, len(texts), n))
    validation = shipped.manifest.get("metrics", {}).get("validation", {})
    ece = (
        {f: validation.get("fast" if f == "sklearn" else f, {}).get("ece") for f in families}
        if cascade
        else {"transformer": validation.get("ece")}
    )
    summaries = {family: _summaries(rows) for family, rows in results.items()}
    return {
        "families": list(families),
        "held_out": summaries,
        "per_source": {
            family: [
                {
                    "group": r.group,
                    "source": r.source,
                    "category": r.category,
                    "rows": r.rows,
                    "flagged": r.flagged,
                }
                for r in rows
            ]
            for family, rows in results.items()
        },
        "ece_validation": ece,
        "held_out_routed_share": round(routed / total, 4) if total else None,
        "fold_models": [str(p) for p in fold_dirs],
        "seed": seed,
        "seconds": round(time.monotonic() - started),
    }


def _value(evaluation: dict[str, Any], family: str, target: Target) -> float | None:
    if target.measure == "ece":
        value = evaluation["ece_validation"].get(family)
        return None if value is None else float(value)
    entry = evaluation["held_out"][family].get(target.name)
    return None if entry is None else float(entry["mean_over_sources"])


def family_report(title: str, evaluation: dict[str, Any]) -> str:
    """The markdown report: targets by family, then each family's per-source rates."""
    families = evaluation["families"]
    header = "| measure | target | " + " | ".join(families) + " |"
    rows = []
    for target in FAMILY_TARGETS:
        op = ">=" if target.measure == "recall" else "<="
        cells = []
        for family in families:
            value = _value(evaluation, family, target)
            cells.append(
                "-" if value is None else f"{value:.3f}" + ("" if target.met(value) else " (no)")
            )
        rows.append(
            f"| {target.name} {target.measure} | {op} {target.bound} | " + " | ".join(cells) + " |"
        )
    lines = [
        f"# Evaluation: {title}",
        "",
        f"Held-out sources, seed {evaluation['seed']}, {evaluation['seconds']} s. "
        "Recall and false-positive rates are means over the held-out sources of a category "
        "(each source counts once); `(no)` marks a target not met. ECE is on the validation "
        "rows set aside before fine-tuning (out-of-fold scores for the fast stage).",
        "",
        "## Targets",
        "",
        header,
        "|---|---|" + "---|" * len(families),
        *rows,
        "",
    ]
    if evaluation.get("held_out_routed_share") is not None:
        lines += [
            f"The cascade's band sent {evaluation['held_out_routed_share']:.1%} of the held-out "
            "rows to the transformer.",
            "",
        ]
    lines += [
        "## Per held-out source",
        "",
        "| group | source | category | rows | " + " | ".join(families) + " |",
        "|---|---|---|---|" + "---|" * len(families),
    ]
    per_source = evaluation["per_source"]
    for i, first in enumerate(per_source[families[0]]):
        rates = [per_source[f][i]["flagged"] / max(per_source[f][i]["rows"], 1) for f in families]
        lines.append(
            f"| {first['group']} | {first['source']} | {first['category']} | {first['rows']} | "
            + " | ".join(f"{r:.3f}" for r in rates)
            + " |"
        )
    lines += [
        "",
        "Malicious categories: recall; benign ones: the share flagged. Transformer figures "
        "come from the fold model that did not see the group; scikit-learn figures from the "
        "recipe refitted without it; the cascade combines both with the shipped band and "
        "stacking map.",
        "",
    ]
    return "\n".join(lines)


def evaluate_family(
    model_dir: Path, data_root: Path, fold_dirs: Sequence[Path], **kwargs: Any
) -> tuple[str, dict[str, Any]]:
    shipped = load_model(model_dir)
    evaluation = compare_families(model_dir, data_root, fold_dirs, **kwargs)
    return family_report(f"{shipped.name} {shipped.version}", evaluation), evaluation
