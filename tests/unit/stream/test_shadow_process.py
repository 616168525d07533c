"""The shadow model's own process (`consumer.stream.shadow_process`): it loads and verifies
the folder itself, answers batches, reloads a changed folder (keeping the old model when the
new one is refused), and a dead child fails batches instead of hanging the shadow."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import orjson
import pytest

from consumer.model.artifact import ModelArtifactError, load_model
from consumer.stream.metrics import Metrics
from consumer.stream.shadow_process import ShadowProcess
from tests.conftest import labelled_texts


def test_the_child_scores_as_the_model_does_and_reloads_a_changed_folder(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "shadow"
    shutil.copytree(tiny_model_path, folder)
    texts = [t for t, _ in labelled_texts(50, seed=4)]
    scorer = ShadowProcess(folder)
    try:
        assert (scorer.name, scorer.version) == ("tiny", "9.9.9")
        expected = load_model(folder).classify(texts)
        assert scorer.classify(texts) == expected
        metrics, now = Metrics(), [0.0]
        check = scorer.reloader(metrics, interval_s=1, clock=lambda: now[0])
        # A tampered copy is refused; the child keeps the old model.
        model_file = folder / "model.joblib"
        original = model_file.read_bytes()
        model_file.write_bytes(original + b"x")
        now[0] = 2
        assert check() is None
        refused = {"result": "refused"}
        assert (
            metrics.registry.get_sample_value("content_classifier_shadow_reloads_total", refused)
            == 1
        )
        assert scorer.classify(texts) == expected
        # A new version is taken.
        model_file.write_bytes(original)
        manifest = orjson.loads((folder / "manifest.json").read_bytes())
        manifest["version"] = "9.9.10"
        (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
        now[0] = 4
        assert check() is scorer and scorer.version == "9.9.10"
    finally:
        scorer.close()
    assert not scorer._process.is_alive()


def test_a_folder_that_fails_verification_stops_the_shadow_from_starting(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "shadow"
    shutil.copytree(tiny_model_path, folder)
    (folder / "model.joblib").write_bytes(b"not the model")
    with pytest.raises(ModelArtifactError, match="sha256"):
        ShadowProcess(folder)


def test_a_dead_child_fails_batches_instead_of_hanging(tiny_model_path: Path) -> None:
    scorer = ShadowProcess(tiny_model_path)
    scorer._process.kill()
    scorer._process.join(5)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="process is gone"):
        scorer.classify(["hello"])
    assert time.monotonic() - started < 5
    scorer.close()
