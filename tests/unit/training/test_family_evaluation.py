"""The three families side by side on held-out sources, on small synthetic data: the
scikit-learn model refitted per group, fold transformers, and their cascade."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from consumer.training.default_model import train_default
from consumer.training.evaluation import evaluate_model
from consumer.training.family_evaluation import FAMILY_TARGETS, compare_families
from consumer.training.heldout import fold_sources
from consumer.training.recipes import Recipe
from tests.tiny_encoder import build_tiny_cascade, build_tiny_transformer
from tests.unit.training.datasets_files import enlarge_for_training, write_all

SOURCES = ["donotanswer", "catqa", "query_wellformedness", "stormfront", "toxigen", "goemotions"]


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path]]:
    tmp = tmp_path_factory.mktemp("families")
    root = write_all(tmp / "data")
    enlarge_for_training(root)
    recipe = Recipe(
        caps={}, templated_instructions=40, templated_harmful=40, templated_injections=40
    )
    fast = train_default(root, tmp / "fast", version="1", seed=3, recipe=recipe)
    transformer = build_tiny_transformer(tmp / "transformer")
    folds = [
        build_tiny_transformer(tmp / f"fold{k}", seed=k, excluded=fold_sources(k)) for k in (1, 2)
    ]
    cascade = build_tiny_cascade(
        tmp / "cascade",
        fast,
        transformer,
        seed=4,
        rows=200,
        version="1",
        extra={"recipe": "cascade", "seed": 3},
    )
    return root, cascade, folds


def test_every_family_scores_the_same_held_out_rows(
    setting: tuple[Path, Path, list[Path]],
) -> None:
    root, cascade, folds = setting
    evaluation = compare_families(cascade, root, folds, seed=3, sources=SOURCES)
    assert evaluation["families"] == ["sklearn", "transformer", "cascade"]
    per_source = evaluation["per_source"]
    keys = [(r["source"], r["category"], r["rows"]) for r in per_source["sklearn"]]
    for family in ("transformer", "cascade"):
        assert [(r["source"], r["category"], r["rows"]) for r in per_source[family]] == keys
    assert {source for source, _, _ in keys} == set(SOURCES)
    for family in evaluation["families"]:
        held = evaluation["held_out"][family]
        # Stormfront and ToxiGen's hateful rows, and their contrast negatives, apart.
        assert held["hateful"]["sources"] == 2
        assert held["contrast_negatives"]["sources"] == 2
        assert 0.0 <= held["hateful"]["mean_over_sources"] <= 1.0
    assert 0.0 <= evaluation["held_out_routed_share"]["cascade"] <= 1.0


def test_the_scores_are_kept_and_reused_and_other_bands_measured_alongside(
    setting: tuple[Path, Path, list[Path]], tmp_path: Path
) -> None:
    root, cascade, folds = setting
    cache = tmp_path / "scores.npz"
    first = compare_families(cascade, root, folds, seed=3, sources=SOURCES, scores_cache=cache)
    assert cache.is_file()
    # The data root is gone: the second run can only have read the kept scores.
    moved = root.rename(tmp_path / "moved")
    try:
        again = compare_families(
            cascade,
            root,
            folds,
            seed=3,
            sources=SOURCES,
            scores_cache=cache,
            extra_cascades=[cascade],
        )
    finally:
        moved.rename(root)
    assert again["per_source"]["cascade"] == first["per_source"]["cascade"]
    assert again["per_source"]["sklearn"] == first["per_source"]["sklearn"]
    (other,) = [f for f in again["families"] if f.startswith("cascade@")]
    assert again["per_source"][other] == first["per_source"]["cascade"]


def test_a_fold_model_that_saw_its_groups_is_refused(
    setting: tuple[Path, Path, list[Path]],
) -> None:
    root, cascade, folds = setting
    with pytest.raises(ValueError, match="not fold 1"):
        compare_families(cascade, root, [folds[1], folds[0]], seed=3, sources=SOURCES)


def test_evaluate_writes_the_side_by_side_report(
    setting: tuple[Path, Path, list[Path]],
) -> None:
    root, cascade, folds = setting
    report = evaluate_model(cascade, root, seed=3, sources=SOURCES, fold_models=folds)
    text = report.read_text()
    assert "| measure | target | sklearn | transformer | cascade |" in text
    for target in FAMILY_TARGETS:
        assert f"| {target.name} {target.measure} |" in text
    manifest = orjson.loads((cascade / "manifest.json").read_bytes())
    assert manifest["metrics"]["evaluation"]["families"] == ["sklearn", "transformer", "cascade"]
    assert "## Contrast suite" in text and "| negated_hate | benign | 140 |" in text
    assert manifest["metrics"]["evaluation"]["contrast_suite"]["hate_plain"]["cases"] == 140
    with pytest.raises(ValueError, match="--fold-models"):
        evaluate_model(cascade, root, seed=3, sources=SOURCES)
