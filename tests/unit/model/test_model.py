from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from consumer.model.artifact import (
    SIGNATURE_NAME,
    ModelArtifactError,
    load_model,
    sha256_of,
    sign_manifest,
)
from consumer.model.classifier import Classifier, Policy, Prediction
from tests.conftest import labelled_texts

KEY = "signing-key-for-tests-0123456789"


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


def write_exploit(path: Path, marker: Path) -> str:
    """A pickle that creates `marker` when unpickled; returns its sha256."""
    import pickle

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Exploit()))
    return sha256_of(path)


def test_the_exploit_pickle_does_create_its_file_when_unpickled(tmp_path: Path) -> None:
    """The tests below rely on it: loading it unchecked would leave the marker behind."""
    import joblib

    marker = tmp_path / "pwned"
    write_exploit(tmp_path / "exploit.joblib", marker)
    joblib.load(tmp_path / "exploit.joblib")
    assert marker.exists()


def test_a_pickle_that_runs_code_is_never_loaded(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    write_exploit(model_copy / "model.joblib", marker)
    with pytest.raises(ModelArtifactError, match="sha256"):
        load_model(model_copy)
    assert not marker.exists()


def test_a_manifest_pointing_outside_its_folder_is_refused(model_copy: Path) -> None:
    edit_manifest(model_copy, file="../elsewhere/model.joblib")
    with pytest.raises(ModelArtifactError, match="outside the model folder"):
        load_model(model_copy)


@pytest.mark.parametrize("name", ["../elsewhere/model.joblib", "ABSOLUTE"])
def test_a_file_outside_the_folder_is_never_unpickled_even_with_its_sha256(
    model_copy: Path, tmp_path: Path, name: str
) -> None:
    marker = tmp_path / "pwned"
    outside = tmp_path / "elsewhere" / "model.joblib"
    digest = write_exploit(outside, marker)
    edit_manifest(model_copy, file=str(outside) if name == "ABSOLUTE" else name, sha256=digest)
    with pytest.raises(ModelArtifactError, match="outside the model folder"):
        load_model(model_copy)
    assert not marker.exists()


def test_a_symlink_leading_out_of_the_folder_is_refused(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    outside = tmp_path / "elsewhere" / "model.joblib"
    digest = write_exploit(outside, marker)
    (model_copy / "model.joblib").unlink()
    (model_copy / "model.joblib").symlink_to(outside)
    edit_manifest(model_copy, sha256=digest)
    with pytest.raises(ModelArtifactError, match="outside the model folder"):
        load_model(model_copy)
    assert not marker.exists()


def test_another_sklearn_version_is_refused(model_copy: Path) -> None:
    edit_manifest(model_copy, sklearn_version="0.24.2")
    with pytest.raises(ModelArtifactError, match=r"scikit-learn 0\.24\.2"):
        load_model(model_copy)


def test_another_sklearn_version_is_refused_before_unpickling(
    model_copy: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    digest = write_exploit(model_copy / "model.joblib", marker)
    edit_manifest(model_copy, sklearn_version="0.24.2", sha256=digest)
    with pytest.raises(ModelArtifactError, match=r"scikit-learn 0\.24\.2"):
        load_model(model_copy)
    assert not marker.exists()


def test_a_signed_model_loads_with_its_key(model_copy: Path) -> None:
    sign_manifest(model_copy, KEY)
    text = (model_copy / SIGNATURE_NAME).read_text()
    assert text.startswith("hmac-sha256:") and KEY not in text
    assert load_model(model_copy, signing_key=SecretStr(KEY)).version == "9.9.9"


def test_with_a_key_an_unsigned_model_is_refused_before_unpickling(
    model_copy: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    digest = write_exploit(model_copy / "model.joblib", marker)
    edit_manifest(model_copy, sha256=digest)
    with pytest.raises(ModelArtifactError, match="not signed"):
        load_model(model_copy, signing_key=KEY)
    assert not marker.exists()


def test_a_manifest_changed_after_signing_is_refused_before_unpickling(
    model_copy: Path, tmp_path: Path
) -> None:
    sign_manifest(model_copy, KEY)
    marker = tmp_path / "pwned"
    # Whoever can write the model store swaps in a pickle and its matching sha256.
    digest = write_exploit(model_copy / "model.joblib", marker)
    edit_manifest(model_copy, sha256=digest)
    with pytest.raises(ModelArtifactError, match="does not match"):
        load_model(model_copy, signing_key=KEY)
    assert not marker.exists()


def test_a_signature_made_with_another_key_is_refused(model_copy: Path) -> None:
    sign_manifest(model_copy, "another-key-of-the-same-length-00")
    with pytest.raises(ModelArtifactError, match="another key"):
        load_model(model_copy, signing_key=KEY)


def test_the_shipped_models_load(tmp_path: Path) -> None:
    from consumer.config.paths import default_model_path

    for folder in sorted(default_model_path().parent.iterdir()):
        classifier = load_model(folder)
        assert classifier.labels, folder
        # Without a baseline a worker serving it measures no score drift.
        assert classifier.score_baseline is not None, folder


@pytest.mark.parametrize("missing", ["manifest.json", "model.joblib"])
def test_missing_files_are_reported(model_copy: Path, missing: str) -> None:
    (model_copy / missing).unlink()
    with pytest.raises(ModelArtifactError, match=r"does not exist|has no"):
        load_model(model_copy)


def test_a_missing_folder_names_model_path(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match="MODEL_PATH"):
        load_model(tmp_path / "nope")


class _FixedProba:
    """An estimator answering the probabilities it was given (one row per text)."""

    classes_: tuple[str, ...] = ()

    def __init__(self, rows: list[list[float]]) -> None:
        self.rows = rows

    def predict_proba(self, texts: Sequence[str]) -> list[list[float]]:
        return self.rows[: len(texts)]


def _reference(classifier: Classifier, row: list[float]) -> Prediction:
    """The policy of `Policy`'s docstring, one record at a time."""
    labels, policy = classifier.labels, classifier.policy
    row = np.clip(np.round(np.asarray(row, dtype=np.float64), 6), 0.0, 1.0).tolist()
    scores = dict(zip(labels, row, strict=True))
    if policy.positive_label is None or len(labels) != 2:
        best = max(range(len(row)), key=lambda i: (row[i], -i))
        return Prediction(labels[best], row[best], scores, None)
    p = scores[policy.positive_label]
    other = next(label for label in labels if label != policy.positive_label)
    label = policy.positive_label if p >= policy.threshold else other
    block_at = policy.threshold if policy.block_threshold is None else policy.block_threshold
    if p >= block_at:
        action = "block"
    elif policy.review_threshold is not None and p >= policy.review_threshold:
        action = "review"
    else:
        action = "allow"
    return Prediction(label, scores[label], scores, action)


@settings(max_examples=200, deadline=None)
@given(
    probabilities=st.lists(st.floats(0, 1), min_size=1, max_size=40),
    threshold=st.floats(0.05, 0.95),
    review=st.one_of(st.none(), st.floats(0.0, 0.95)),
    block=st.one_of(st.none(), st.floats(0.05, 1.0)),
    positive_first=st.booleans(),
)
def test_binary_policy_matches_a_per_record_reference(
    probabilities: list[float],
    threshold: float,
    review: float | None,
    block: float | None,
    positive_first: bool,
) -> None:
    labels = ("malicious", "benign") if positive_first else ("benign", "malicious")
    rows = [[p, 1 - p] if positive_first else [1 - p, p] for p in probabilities]
    policy = Policy("malicious", threshold, review, block)
    classifier = Classifier("m", "1", labels, policy, _FixedProba(rows), identify_language=False)
    texts = ["t"] * len(rows)
    assert classifier.classify(texts) == [_reference(classifier, row) for row in rows]


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.floats(0.001, 1), min_size=3, max_size=3).map(
            lambda r: [v / sum(r) for v in r]
        ),
        min_size=1,
        max_size=30,
    )
)
def test_multiclass_takes_the_most_probable_label(rows: list[list[float]]) -> None:
    model = _FixedProba(rows)
    classifier = Classifier("m", "1", ("a", "b", "c"), Policy(), model, identify_language=False)
    predictions = classifier.classify(["t"] * len(rows))
    assert predictions == [_reference(classifier, row) for row in rows]
    assert all(type(p) is Prediction for p in predictions)
