"""consumer.training.evaluation: held-out summaries, and full reports on small synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consumer.model.artifact import load_model, sha256_of
from consumer.training.default_model import train_default
from consumer.training.evaluation import evaluate_model
from consumer.training.heldout import HeldOutResult, summarize_held_out
from consumer.training.recipes import Recipe
from consumer.training.routing import train_routing
from tests.unit.training.datasets_files import (
    enlarge_for_training,
    write_all,
    write_banking_intents,
)


def test_summary_means_over_sources_and_checks_targets() -> None:
    results = [
        HeldOutResult("g1", "a", "harmful_request", 100, 95),
        HeldOutResult("g2", "b", "harmful_request", 1000, 800),
        HeldOutResult("g3", "c", "benign_prose", 200, 2),
        HeldOutResult("g4", "d", "benign_prompt", 50, 10),
        HeldOutResult("g5", "e", "abusive", 10, 0),
        HeldOutResult("g6", "f", "benign_contrast", 100, 30),
        HeldOutResult("g7", "g", "benign_lookalike", 100, 8),
    ]
    summary = summarize_held_out(results)
    harmful = summary["harmful_request"]
    assert harmful["measure"] == "recall"
    assert harmful["mean_over_sources"] == pytest.approx((0.95 + 0.8) / 2)
    assert harmful["pooled"] == pytest.approx(895 / 1100, abs=1e-4)
    assert harmful["worst_source"] == "b" and harmful["met"] is False
    assert summary["benign_prose"]["measure"] == "fpr" and summary["benign_prose"]["met"] is True
    assert summary["benign_prompt"]["met"] is False  # 0.2 > 0.10
    assert "target" not in summary["abusive"]
    contrast = summary["benign_contrast"]  # hard negatives: a false-positive rate, no target
    assert contrast["measure"] == "fpr" and contrast["worst"] == pytest.approx(0.3)
    assert "target" not in contrast
    lookalike = summary["benign_lookalike"]  # alarming-but-safe: at most 10 % flagged
    assert lookalike["measure"] == "fpr" and lookalike["target"] == 0.10
    assert lookalike["met"] is True


GROUPS: dict[str, tuple[str, ...]] = {
    "donotanswer": ("donotanswer",),
    "queries": ("query_wellformedness",),
}


def test_evaluate_default_writes_report_plots_and_manifest_metrics(tmp_path: Path) -> None:
    root = write_all(tmp_path / "data")
    enlarge_for_training(root)
    recipe = Recipe(caps={}, templated_instructions=40)
    folder = train_default(root, tmp_path / "model", version="1", seed=3, recipe=recipe)
    digest = sha256_of(folder / "model.joblib")
    report = evaluate_model(folder, root, seed=3, groups=GROUPS)
    assert report == folder / "evaluation" / "REPORT.md"
    text = report.read_text()
    for heading in ("## Targets", "## Random split", "## Held-out sources", "## Contrast suite"):
        assert heading in text
    assert "| counter_speech | benign | 140 |" in text
    assert "| donotanswer | donotanswer | harmful_request |" in text
    assert "without the security-flavoured hard negatives" in text
    for png in (
        "precision_recall.png",
        "calibration.png",
        "confusion_matrix.png",
        "per_source.png",
    ):
        data = (folder / "evaluation" / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000
    manifest = json.loads((folder / "manifest.json").read_text())
    evaluation = manifest["metrics"]["evaluation"]
    assert set(evaluation["held_out"]) == {
        "harmful_request",
        "benign_prompt",
        "benign_prompt_ordinary",
    }
    card = (folder / "MODEL_CARD.md").read_text()
    assert "## Evaluation summary" in card and "random-split F1" in card
    # a second evaluation replaces the summary instead of appending another
    evaluate_model(folder, root, seed=3, groups=GROUPS)
    assert (folder / "MODEL_CARD.md").read_text().count("## Evaluation summary") == 1
    assert 0.0 <= evaluation["random_split"]["ece"] <= 1.0
    assert evaluation["contrast_suite"]["identity_positive"]["cases"] == 120
    assert evaluation["random_split"]["rows"] > 0
    # the artifact is untouched and still loads
    assert manifest["sha256"] == digest == sha256_of(folder / "model.joblib")
    load_model(folder)


def test_evaluate_routing_uses_the_shipped_model_on_the_test_split(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_banking_intents(root)
    folder = train_routing(root, tmp_path / "routing", version="1", seed=1)
    report = evaluate_model(folder, root)
    assert "| 1.0 | 1.0 |" in report.read_text()
    assert "| accuracy | macro F1 |" in (folder / "MODEL_CARD.md").read_text()
    for png in ("confusion_matrix.png", "calibration.png", "per_intent_f1.png"):
        assert (folder / "evaluation" / png).read_bytes().startswith(b"\x89PNG")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["metrics"]["evaluation"]["official_test"]["rows"] == 30


def test_evaluate_rejects_an_unknown_recipe(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"recipe": "file"}))
    with pytest.raises(ValueError, match="recipe"):
        evaluate_model(folder, tmp_path)
