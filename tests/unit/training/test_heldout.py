"""consumer.training.heldout: the groups cover the catalogue once each, the two fold halves
partition the groups and each holds every category, and every benign category is measured."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from consumer.training import datasets as ds
from consumer.training.heldout import (
    GROUP_FOLDS,
    HELD_OUT_GROUPS,
    TARGETS,
    HeldOutResult,
    fold_sources,
    summarize_held_out,
)


def test_every_catalogue_source_is_in_exactly_one_group() -> None:
    grouped = Counter(source for sources in HELD_OUT_GROUPS.values() for source in sources)
    assert set(grouped) == set(ds.sources())
    assert {source for source, n in grouped.items() if n != 1} == set()


def test_the_folds_partition_the_groups() -> None:
    folded = [group for fold in GROUP_FOLDS for group in fold]
    assert sorted(folded) == sorted(HELD_OUT_GROUPS)
    assert set(fold_sources(1)) | set(fold_sources(2)) == set(ds.sources())
    assert not set(fold_sources(1)) & set(fold_sources(2))


def test_each_fold_holds_every_category(data_root: Path) -> None:
    """Each half of the groups holds rows of every category (spam aside, which the default
    model leaves out), so the model trained without one half still sees every kind of content."""
    categories: dict[str, set[str]] = defaultdict(set)
    for example in ds.load_all(data_root):
        categories[example.source].add(example.category)
    wanted = set(ds.CATEGORIES) - {"spam"}
    for fold in (1, 2):
        held = set().union(*(categories[source] for source in fold_sources(fold)))
        assert held == wanted, fold


def test_sources_that_copy_each_other_share_a_group() -> None:
    group_of = {s: group for group, sources in HELD_OUT_GROUPS.items() for s in sources}
    for together in (
        ("jailbreak", "jailbreak_in_the_wild", "gptfuzz_jailbreaks", "gptfuzz_questions"),
        ("deepset_injection", "deepset_splits"),
        ("jailbreakbench", "jailbreakbench_twins"),
        ("coconot", "coconot_contrast"),
    ):
        assert len({group_of[s] for s in together}) == 1, together


def test_benign_lookalikes_have_a_false_positive_target() -> None:
    assert TARGETS["benign_lookalike"] == ("fpr", 0.10)
    summary = summarize_held_out(
        [
            HeldOutResult("notinject", "notinject", "benign_lookalike", 100, 5),
            HeldOutResult("coconot", "coconot_contrast", "benign_lookalike", 100, 25),
        ]
    )
    entry = summary["benign_lookalike"]
    assert entry["measure"] == "fpr" and entry["mean_over_sources"] == 0.15
    assert entry["worst_source"] == "coconot_contrast"
    assert entry["target"] == 0.10 and entry["met"] is False
