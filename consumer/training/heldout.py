"""The held-out-source protocol: refit the recipe without each group of sources and measure
what it flags of the group's rows, the figures a user whose traffic looks like none of our
sources will see; and the targets they are held to."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from consumer.training.datasets import Example
from consumer.training.recipes import Recipe, fit_recipe, recipe_examples

__all__ = [
    "ECE_TARGET",
    "GROUP_FOLDS",
    "HARD_NEGATIVE_SOURCES",
    "HELD_OUT_GROUPS",
    "MAX_HELD_OUT_ROWS",
    "RANDOM_SPLIT_F1_TARGET",
    "TARGETS",
    "HeldOutResult",
    "fold_sources",
    "held_out_evaluation",
    "held_out_rows",
    "sample_rows",
    "summarize_held_out",
]

MAX_HELD_OUT_ROWS = 3000

# Each group is left out together: sources that copy or closely imitate each other
# (AdvBench, DangerousQA and SimpleSafetyTests; the two NLTK review corpora) would
# otherwise leak into each other's test. `jailbreak` holds every source of the jailbreak
# prompts shared around jailbreakchat.com and Reddit (jackhhao's set, the prompts in the
# wild, GPTFuzz's templates) and GPTFuzz's questions, which its filled templates carry;
# `deepset_injection` both copies of deepset's set; `bipia` the documents, their injected
# twins and the TaskTracker lines in them; the sources of one publication share a group
# (JailbreakBench's behaviours and twins, CoCoNot's requests and contrast prompts).
HELD_OUT_GROUPS: dict[str, tuple[str, ...]] = {
    "advbench+dangerousqa+sst": ("advbench", "dangerousqa", "simple_safety_tests"),
    "catqa": ("catqa",),
    "harmfulqa": ("harmfulqa",),
    "donotanswer": ("donotanswer",),
    "cse_interpreter": ("cyberseceval_interpreter",),
    "jailbreak": ("jailbreak", "jailbreak_in_the_wild", "gptfuzz_jailbreaks", "gptfuzz_questions"),
    "deepset_injection": ("deepset_injection", "deepset_splits"),
    "cse_injection": ("cyberseceval_injection",),
    "davidson": ("davidson",),
    "stormfront": ("stormfront",),
    "toxigen": ("toxigen",),
    "goemotions": ("goemotions",),
    "wiki+state_union": ("wiki_sents", "nltk_state_union"),
    "movie_reviews": ("nltk_movie_reviews", "nltk_sentence_polarity", "nltk_subjectivity"),
    "product_reviews": ("nltk_product_reviews", "nltk_pros_cons"),
    "sms_ham": ("sms_spam",),
    "banking77+clinc150": ("banking77", "clinc150"),
    "queries+sgd": ("query_wellformedness", "sgd_dialogues"),
    "cse_mitre_benign": ("cyberseceval_mitre_frr",),
    "bipia": ("bipia",),
    "notinject": ("notinject",),
    "wildguard": ("wildguard_benign",),
    "awesome_prompts": ("awesome_chatgpt_prompts",),
    "jailbreakbench": ("jailbreakbench", "jailbreakbench_twins"),
    "strongreject": ("strongreject",),
    "aart": ("aart",),
    "coconot": ("coconot", "coconot_contrast"),
    "edos": ("edos",),
    "convabuse": ("convabuse",),
    "perspective_templates": ("perspective_templates",),
    "perspective_wiki": ("perspective_toxicity",),
    "surge": ("surge_toxicity",),
}

# The transformer is too slow to refit once per group: its held-out figures come from two
# models, each fine-tuned without one half of the groups. Each half holds sources of every
# category, so each model still learns every kind of content from the other half.
GROUP_FOLDS: tuple[tuple[str, ...], tuple[str, ...]] = (
    (
        "advbench+dangerousqa+sst",
        "harmfulqa",
        "cse_interpreter",
        "deepset_injection",
        "davidson",
        "toxigen",
        "goemotions",
        "movie_reviews",
        "sms_ham",
        "banking77+clinc150",
        "cse_mitre_benign",
        "bipia",
        "notinject",
        "wildguard",
        "jailbreakbench",
        "aart",
        "edos",
        "perspective_wiki",
    ),
    (
        "catqa",
        "donotanswer",
        "jailbreak",
        "cse_injection",
        "stormfront",
        "wiki+state_union",
        "product_reviews",
        "queries+sgd",
        "awesome_prompts",
        "strongreject",
        "coconot",
        "convabuse",
        "perspective_templates",
        "surge",
    ),
)


def fold_sources(fold: int) -> tuple[str, ...]:
    """The sources of held-out fold 1 or 2 (`GROUP_FOLDS`)."""
    return tuple(s for group in GROUP_FOLDS[fold - 1] for s in HELD_OUT_GROUPS[group])


# Targets of issue 3 for held-out sources: (category, "recall" | "fpr", bound).
TARGETS: dict[str, tuple[str, float]] = {
    "harmful_request": ("recall", 0.90),
    "prompt_injection": ("recall", 0.90),
    "benign_prose": ("fpr", 0.05),
    "benign_prompt": ("fpr", 0.10),
    # alarming-but-safe requests, injection-shaped and role-play prompts
    "benign_lookalike": ("fpr", 0.10),
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
    #: Of the flagged rows of a malicious source, those whose most probable kind of harm is
    #: their own (None: the model names no kinds, or the rows are benign).
    right_kind: int | None = None

    @property
    def rate(self) -> float:
        return self.flagged / self.rows if self.rows else 0.0


def sample_rows(rows: list[Example], limit: int, seed: int) -> list[Example]:
    """At most `limit` of `rows`, a seeded sample in their original order."""
    if len(rows) <= limit:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def held_out_rows(
    examples: Sequence[Example], sources: Iterable[str], max_rows: int, seed: int
) -> list[tuple[tuple[str, str], list[Example]]]:
    """The rows of `sources` by (source, category), at most `max_rows` of each (a seeded
    sample), in order of source and category."""
    held = set(sources)
    by_key: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for e in examples:
        if e.source in held:
            by_key[(e.source, e.category)].append(e)
    return [(key, sample_rows(rows, max_rows, seed)) for key, rows in sorted(by_key.items())]


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
        for (source, category), rows in held_out_rows(examples, sources, max_rows, seed):
            full = fitted.model.predict_proba([e.text for e in rows])
            hit = full[:, 1] >= fitted.policy.threshold
            right = None
            kind = recipe.harm_categories.get(category)
            if fitted.categories and kind in fitted.categories:
                top = full[hit, 2:].argmax(axis=1)
                right = int((top == fitted.categories.index(kind)).sum())
            results.append(HeldOutResult(group, source, category, len(rows), int(hit.sum()), right))
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
        named = [r for r in rows if r.right_kind is not None]
        if named:
            flagged = sum(r.flagged for r in named)
            entry["right_kind_of_flagged"] = round(
                sum(r.right_kind or 0 for r in named) / max(flagged, 1), 4
            )
        if category in TARGETS:
            _, bound = TARGETS[category]
            value = entry["mean_over_sources"]
            entry["target"] = bound
            entry["met"] = bool(value >= bound if kind == "recall" else value <= bound)
        summary[category] = entry
    return summary


# --------------------------------------------------------------------------------------------
# plots
