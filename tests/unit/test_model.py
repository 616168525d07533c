from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
import sklearn

from consumer.model import ModelArtifactError, load_model, sha256_of
from tests.conftest import labelled_texts


@pytest.fixture
def model_copy(tiny_model_path: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_path, folder)
    return folder


def edit_manifest(folder: Path, **changes: object) -> None:
    path = folder / "manifest.json"
    manifest = orjson.loads(path.read_bytes())
    manifest.update(changes)
    path.write_bytes(orjson.dumps(manifest))


def test_training_writes_a_verifiable_folder(tiny_model_path: Path) -> None:
    manifest = orjson.loads((tiny_model_path / "manifest.json").read_bytes())
    assert manifest["labels"] == ["benign", "malicious"]
    assert manifest["sha256"] == sha256_of(tiny_model_path / "model.joblib")
    assert manifest["sklearn_version"] == sklearn.__version__
    assert manifest["name"] == "tiny" and manifest["version"] == "9.9.9"
    assert manifest["policy"]["positive_label"] == "malicious"
    assert (tiny_model_path / "MODEL_CARD.md").is_file()


def test_loaded_model_classifies(tiny_model_path: Path) -> None:
    model = load_model(tiny_model_path)
    texts = [text for text, _ in labelled_texts(50, seed=99)]
    labels = [label for _, label in labelled_texts(50, seed=99)]
    predictions = model.classify(texts)
    assert [p.label for p in predictions] == labels
    for p in predictions:
        assert set(p.scores) == {"benign", "malicious"}
        assert abs(sum(p.scores.values()) - 1) < 1e-5
        assert p.score == p.scores[p.label]
        assert p.action == ("block" if p.label == "malicious" else "allow")


def test_a_tampered_model_file_is_refused_before_unpickling(model_copy: Path) -> None:
    with (model_copy / "model.joblib").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelArtifactError, match="sha256 mismatch"):
        load_model(model_copy)


def test_a_pickle_that_runs_code_is_never_loaded(model_copy: Path, tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    (model_copy / "model.joblib").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelArtifactError, match="sha256"):
        load_model(model_copy)
    assert not marker.exists()


def test_a_manifest_pointing_outside_its_folder_is_refused(model_copy: Path) -> None:
    edit_manifest(model_copy, file="../elsewhere/model.joblib")
    with pytest.raises(ModelArtifactError, match="outside the model folder"):
        load_model(model_copy)


def test_another_sklearn_version_is_refused(model_copy: Path) -> None:
    edit_manifest(model_copy, sklearn_version="0.24.2")
    with pytest.raises(ModelArtifactError, match=r"scikit-learn 0\.24\.2"):
        load_model(model_copy)


@pytest.mark.parametrize("missing", ["manifest.json", "model.joblib"])
def test_missing_files_are_reported(model_copy: Path, missing: str) -> None:
    (model_copy / missing).unlink()
    with pytest.raises(ModelArtifactError, match=r"does not exist|has no"):
        load_model(model_copy)


def test_a_missing_folder_names_model_path(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match="MODEL_PATH"):
        load_model(tmp_path / "nope")
