"""The cascade: the fast stage decides outside its uncertain band, the transformer reads the
rest in the same call, and one folder (one signature) describes both stages."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import pytest

from consumer.model.artifact import ModelArtifactError, load_model, sign_manifest
from consumer.model.cascade import Cascade, CascadeParams
from tests.conftest import labelled_texts

CLASSES = np.array(["benign", "malicious"])


class Fixed:
    """A stage whose score for a text is looked up in a table."""

    def __init__(self, table: dict[str, float]) -> None:
        self.classes_ = CLASSES
        self.table = table
        self.calls: list[list[str]] = []

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        p = np.array([self.table[t] for t in texts])
        return np.column_stack([1 - p, p])

    def margins(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([self.table[t] for t in texts])


PARAMS = CascadeParams(low=0.2, high=0.8, fast_weight=0.0, margin_weight=1.0, bias=0.0)


def test_only_texts_in_the_band_reach_the_transformer_in_one_call() -> None:
    fast = Fixed({"sure-bad": 0.95, "unsure": 0.5, "sure-good": 0.05, "unsure-2": 0.3})
    transformer = Fixed({"unsure": 4.0, "unsure-2": -4.0})
    cascade = Cascade(fast, transformer, PARAMS)
    proba = cascade.predict_proba(["sure-bad", "unsure", "sure-good", "unsure-2"])[:, 1]
    assert transformer.calls == [["unsure", "unsure-2"]]
    assert proba[0] == pytest.approx(0.95) and proba[2] == pytest.approx(0.05)
    assert proba[1] == pytest.approx(1 / (1 + np.exp(-4.0)))
    assert proba[3] == pytest.approx(1 / (1 + np.exp(4.0)))
    assert cascade.stage_counts() == {"fast": 2, "transformer": 2}
    assert cascade.stage_counts() == {"fast": 0, "transformer": 0}


def test_a_batch_with_nothing_uncertain_never_calls_the_transformer() -> None:
    transformer = Fixed({})
    cascade = Cascade(Fixed({"a": 0.01, "b": 0.99}), transformer, PARAMS)
    cascade.predict_proba(["a", "b"])
    assert transformer.calls == []


def test_stages_with_different_labels_are_refused() -> None:
    other = Fixed({})
    other.classes_ = np.array(["ham", "spam"])
    with pytest.raises(ValueError, match="labels differ"):
        Cascade(Fixed({}), other, PARAMS)


def test_a_band_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="band"):
        CascadeParams.from_manifest(
            {"low": 0.5, "high": 1.5, "fast_weight": 1, "margin_weight": 1, "bias": 0}
        )


def test_a_cascade_folder_loads_both_stages_and_classifies(tiny_cascade_path: Path) -> None:
    classifier = load_model(tiny_cascade_path)
    assert isinstance(classifier.estimator, Cascade)
    assert classifier.manifest["family"] == "cascade"
    texts = [text for text, _ in labelled_texts(50, seed=2)]
    predictions = classifier.classify(texts)
    assert len(predictions) == len(texts)
    counts = classifier.estimator.stage_counts()
    assert counts["fast"] + counts["transformer"] == len(texts)


@pytest.mark.parametrize(
    "victim", ["fast/model.joblib", "transformer/model.onnx", "transformer/manifest.json"]
)
def test_a_tampered_stage_file_is_refused(
    tiny_cascade_path: Path, tmp_path: Path, victim: str
) -> None:
    folder = tmp_path / "cascade"
    shutil.copytree(tiny_cascade_path, folder)
    with (folder / victim).open("ab") as fh:
        fh.write(b" ")
    with pytest.raises(ModelArtifactError, match="sha256 mismatch"):
        load_model(folder)


def test_one_signature_covers_the_cascade_and_its_stages(
    tiny_cascade_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "cascade"
    shutil.copytree(tiny_cascade_path, folder)
    key = "s" * 32
    sign_manifest(folder, key)
    assert load_model(folder, signing_key=key).name == "tiny-cascade"
    # A stage manifest swapped for another (re-pinned sha256 or not) breaks the chain.
    stage = orjson.loads((folder / "fast" / "manifest.json").read_bytes())
    stage["version"] = "evil"
    (folder / "fast" / "manifest.json").write_bytes(orjson.dumps(stage))
    with pytest.raises(ModelArtifactError, match="sha256 mismatch"):
        load_model(folder, signing_key=key)


def test_a_stage_path_leaving_the_folder_is_refused(
    tiny_cascade_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "cascade"
    shutil.copytree(tiny_cascade_path, folder)
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    manifest["stages"]["fast"]["path"] = "../elsewhere"
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
    with pytest.raises(ModelArtifactError, match="outside the model folder"):
        load_model(folder)
