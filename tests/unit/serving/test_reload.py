from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from consumer.model.artifact import load_model, sign_manifest
from consumer.serving.reload import ModelWatcher
from consumer.stream.metrics import Metrics
from tests.models_for_tests import PoisonModel, save


@pytest.fixture
def folder(tiny_model_path: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "serving"
    shutil.copytree(tiny_model_path, copy)
    return copy


def replace_with(folder: Path, source: Path) -> None:
    """Deploy a model as operators do: the model file first, the manifest last."""
    shutil.copy(source / "model.joblib", folder / "model.joblib")
    shutil.copy(source / "manifest.json", folder / "manifest.json")


def test_a_new_version_is_verified_warmed_and_offered_once(folder: Path, tmp_path: Path) -> None:
    metrics = Metrics()
    watcher = ModelWatcher(folder, load_model(folder), 1.0, metrics)
    watcher.check()
    assert watcher.take() is None, "nothing changed"
    new = save(PoisonModel(), tmp_path / "next", "tiny")
    manifest = orjson.loads((new / "manifest.json").read_bytes())
    manifest["version"] = "10.0.0"
    (new / "manifest.json").write_bytes(orjson.dumps(manifest))
    replace_with(folder, new)
    watcher.check()
    taken = watcher.take()
    assert taken is not None and taken.version == "10.0.0"
    assert watcher.take() is None, "offered once"
    assert (
        metrics.registry.get_sample_value(
            "content_classifier_model_reloads_total", {"result": "loaded"}
        )
        == 1
    )


def test_a_bad_artifact_is_refused_and_retried_only_after_a_change(folder: Path) -> None:
    metrics = Metrics()
    watcher = ModelWatcher(folder, load_model(folder), 1.0, metrics)
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    manifest.update(version="11.0.0", sha256="0" * 64)
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
    watcher.check()
    watcher.check()
    assert watcher.take() is None
    refused = {"result": "refused"}
    assert (
        metrics.registry.get_sample_value("content_classifier_model_reloads_total", refused) == 1
    ), "the same bad artifact is not loaded again and again"


def test_with_a_signing_key_an_unsigned_new_model_is_refused(folder: Path, tmp_path: Path) -> None:
    key = "signing-key-for-tests-0123456789"
    sign_manifest(folder, key)
    metrics = Metrics()
    watcher = ModelWatcher(
        folder, load_model(folder, signing_key=key), 1.0, metrics, signing_key=key
    )
    new = save(PoisonModel(), tmp_path / "next", "tiny")
    manifest = orjson.loads((new / "manifest.json").read_bytes())
    manifest["version"] = "12.0.0"
    (new / "manifest.json").write_bytes(orjson.dumps(manifest))
    replace_with(folder, new)  # the old signature stays: it no longer matches
    watcher.check()
    assert watcher.take() is None
    refused = {"result": "refused"}
    assert metrics.registry.get_sample_value("content_classifier_model_reloads_total", refused) == 1
    sign_manifest(folder, key)  # a changed signature alone is a change worth looking at
    watcher.check()
    taken = watcher.take()
    assert taken is not None and taken.version == "12.0.0"
