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
statements about the same groups), alarming-but-safe prompts (CyberSecEval's benign
security requests), and the benign lookalikes (safe requests with alarming words,
injection-shaped and role-play prompts). A transformer folder alone is measured the same
way, its column only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from consumer.model.artifact import load_model
from consumer.model.cascade import Cascade
from consumer.model.transformer import TransformerTextModel
from consumer.training.contrast import evaluate_suite, suite_lines, suite_summary
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
from consumer.training.recipes import Recipe, fit_recipe, recipe_examples, recipe_of

__all__ = [
    "FAMILY_TARGETS",
    "HATEFUL_SOURCES",
    "ScoredRows",
    "Target",
    "compare_families",
    "family_report",
    "score_held_out",
]

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
    # the category of benign text shaped like malicious content, held to the same bound
    Target("benign_lookalike", "fpr", 0.10),
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


@dataclass
class ScoredRows:
    """A held-out source's sampled rows, scored by the fold transformer that never saw them
    and (for a cascade) by the scikit-learn recipe refitted without their group."""

    group: str
    source: str
    category: str
    margin: np.ndarray
    p_transformer: np.ndarray
    transformer_threshold: float
    p_fast: np.ndarray | None = None
    fast_threshold: float | None = None


def score_held_out(
    data_root: Path,
    fold_dirs: Sequence[Path],
    *,
    recipe: Recipe | None,
    seed: int,
    max_rows: int = MAX_HELD_OUT_ROWS,
    sources: Sequence[str] | None = None,
) -> list[ScoredRows]:
    """Every held-out group's rows scored by its fold's transformer, and with a `recipe` by
    that recipe refitted without the group (the expensive part: one fit a group)."""
    if len(fold_dirs) != len(GROUP_FOLDS):
        raise ValueError(f"give {len(GROUP_FOLDS)} fold models (--fold-models), one per fold")
    examples = load_all(data_root, sources)
    present = {e.source for e in examples}
    scored: list[ScoredRows] = []
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
            if recipe is not None:
                kept = recipe_examples(examples, recipe, seed, exclude=group_sources)
                fitted = fit_recipe(kept, recipe, seed)
            for (source, category), rows in _by_key(examples, group_sources).items():
                texts = [e.text for e in sample_rows(rows, max_rows, seed)]
                margin = model.estimator.margins(texts)
                entry = ScoredRows(
                    group,
                    source,
                    category,
                    margin,
                    model.estimator.probability(margin),
                    model.policy.threshold,
                )
                if fitted is not None:
                    entry.p_fast = np.asarray(fitted.model.predict_proba(texts))[:, 1]
                    entry.fast_threshold = fitted.policy.threshold
                scored.append(entry)
    return scored


def _cached_scores(
    cache: Path | None, key: dict[str, Any], compute: Callable[[], list[ScoredRows]]
) -> list[ScoredRows]:
    """`compute()`, or its result kept in `cache` (an .npz of arrays and a JSON index, no
    pickle) when it was computed for the same `key`."""
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            index = orjson.loads(bytes(stored["index"]))
            if index["key"] == orjson.loads(orjson.dumps(key)):
                return [
                    ScoredRows(
                        **meta,
                        margin=stored["margin"][a:b],
                        p_transformer=stored["p_transformer"][a:b],
                        p_fast=None if meta["fast_threshold"] is None else stored["p_fast"][a:b],
                    )
                    for meta, (a, b) in zip(index["rows"], index["spans"], strict=True)
                ]
    scored = compute()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        spans, start = [], 0
        for row in scored:
            spans.append((start, start + len(row.margin)))
            start += len(row.margin)
        fields = ("group", "source", "category", "transformer_threshold", "fast_threshold")
        index = {
            "key": key,
            "rows": [{f: getattr(row, f) for f in fields} for row in scored],
            "spans": spans,
        }
        with cache.open("wb") as fh:
            np.savez(
                fh,
                index=np.frombuffer(orjson.dumps(index), dtype=np.uint8),
                margin=np.concatenate([r.margin for r in scored]),
                p_transformer=np.concatenate([r.p_transformer for r in scored]),
                p_fast=np.concatenate(
                    [
                        r.p_fast if r.p_fast is not None else np.full(len(r.margin), np.nan)
                        for r in scored
                    ]
                ),
            )
    return scored


def compare_families(
    model_dir: Path,
    data_root: Path,
    fold_dirs: Sequence[Path],
    *,
    seed: int | None = None,
    max_rows: int = MAX_HELD_OUT_ROWS,
    sources: Sequence[str] | None = None,
    extra_cascades: Sequence[Path] = (),
    scores_cache: Path | None = None,
) -> dict[str, Any]:
    """Held-out rates of each family (a cascade folder: all three, plus each of
    `extra_cascades`, other bands over the same stages; a transformer folder: its own), with
    ECE on validation rows and the targets."""
    started = time.monotonic()
    shipped = load_model(model_dir)
    cascades: list[tuple[str, Any, float]] = []
    recipe = None
    if isinstance(shipped.estimator, Cascade):
        fast_path = model_dir / shipped.manifest["stages"]["fast"]["path"]
        recipe = recipe_of(load_model(fast_path).manifest)
        cascades.append(("cascade", shipped.estimator.params, shipped.policy.threshold))
        for extra in extra_cascades:
            other = load_model(extra)
            if not isinstance(other.estimator, Cascade):
                raise ValueError(f"{extra} is not a cascade model folder")
            share = other.estimator.params.routed_share or 0.0
            name = f"cascade@{share:.2f}"
            cascades.append((name, other.estimator.params, other.policy.threshold))
    elif not isinstance(shipped.estimator, TransformerTextModel):
        raise ValueError(f"{model_dir} is neither a cascade nor a transformer model folder")
    seed = int(shipped.manifest.get("seed", 0)) if seed is None else seed
    key = {
        "folds": [load_model(d).manifest.get("created_at") for d in fold_dirs],
        "seed": seed,
        "max_rows": max_rows,
        "sources": list(sources or []),
        "recipe": recipe.to_manifest() if recipe else None,
    }
    scored = _cached_scores(
        scores_cache,
        key,
        lambda: score_held_out(
            data_root, fold_dirs, recipe=recipe, seed=seed, max_rows=max_rows, sources=sources
        ),
    )
    families = ["sklearn", "transformer"] if recipe else ["transformer"]
    families += [name for name, _, _ in cascades]
    results: dict[str, list[HeldOutResult]] = {f: [] for f in families}
    routed: dict[str, int] = defaultdict(int)
    total = 0
    for row in scored:
        flagged = {"transformer": int((row.p_transformer >= row.transformer_threshold).sum())}
        if row.p_fast is not None and row.fast_threshold is not None:
            flagged["sklearn"] = int((row.p_fast >= row.fast_threshold).sum())
            total += len(row.p_fast)
            for name, params, threshold in cascades:
                band = params.routed(row.p_fast)
                p = np.where(band, params.stacked(row.p_fast, row.margin), row.p_fast)
                flagged[name] = int((p >= threshold).sum())
                routed[name] += int(band.sum())
        n = len(row.margin)
        for family, count in flagged.items():
            results[family].append(HeldOutResult(row.group, row.source, row.category, n, count))
    validation = shipped.manifest.get("metrics", {}).get("validation", {})
    ece = (
        {
            "sklearn": validation.get("fast", {}).get("ece"),
            "transformer": validation.get("transformer", {}).get("ece"),
            "cascade": validation.get("cascade", {}).get("ece"),
        }
        if recipe
        else {"transformer": validation.get("ece")}
    )
    for extra, (name, _, _) in zip(extra_cascades, cascades[1:], strict=True):
        other_validation = load_model(extra).manifest.get("metrics", {}).get("validation", {})
        ece[name] = other_validation.get("cascade", {}).get("ece")
    return {
        "families": families,
        "held_out": {family: _summaries(rows) for family, rows in results.items()},
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
        "held_out_routed_share": {
            name: round(count / total, 4) for name, count in routed.items() if total
        },
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
    for name, share in (evaluation.get("held_out_routed_share") or {}).items():
        lines += [f"The {name} band sent {share:.1%} of the held-out rows to the transformer.", ""]
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
    suite = evaluate_suite(shipped)
    evaluation["contrast_suite"] = suite_summary(suite)
    report = family_report(f"{shipped.name} {shipped.version}", evaluation)
    return report + "\n".join(["", *suite_lines(suite)]), evaluation
