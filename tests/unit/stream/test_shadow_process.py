"""The shadow model's own process (`consumer.stream.shadow_process`): it loads and verifies
the folder itself, answers batches, reloads a changed folder (keeping the old model when the
new one is refused), a dead child fails batches instead of hanging the shadow, and the parent
decides its scores by POLICY_FILE with the model's labels and policy."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import orjson
import pytest

from consumer.config.settings import Settings
from consumer.model.artifact import ModelArtifactError, load_model
from consumer.model.classifier import Policy
from consumer.serving.policies import SourcePolicies
from consumer.stream.codec import Decoded
from consumer.stream.metrics import Metrics
from consumer.stream.shadow import Shadow
from consumer.stream.shadow_process import ShadowProcess
from tests.conftest import labelled_texts
from tests.fakes import FakeProducer, record


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


def test_the_parent_decides_the_childs_scores_by_the_policy_file(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    model = load_model(tiny_model_path)
    texts = [t for t, _ in labelled_texts(20, seed=5)]
    policies_file = tmp_path / "policies.toml"
    policies_file.write_text("[default]\nthreshold = 0.0\nblock_threshold = 0.0\n")
    metrics = Metrics()
    policies = SourcePolicies(policies_file, metrics)
    producer = FakeProducer()
    scorer = ShadowProcess(tiny_model_path)
    shadow = Shadow(
        Settings(shadow_output_topic="content.shadow"),
        scorer,
        metrics,
        lambda **_: producer,
        policies=policies,
    ).start()
    try:
        assert (scorer.decider.labels, scorer.decider.policy) == (model.labels, model.policy)
        strict = Policy(positive_label=model.policy.positive_label, threshold=0.0)
        assert scorer.decider.redecide(scorer.classify(texts), strict, "x") == model.redecide(
            model.classify(texts), strict, "x"
        )
        primary = model.classify(texts)
        batch = [
            (Decoded(record(i, b"{}"), t, f"m{i}"), p)
            for i, (t, p) in enumerate(zip(texts, primary, strict=True))
        ]
        assert shadow.offer(batch)
        deadline = time.monotonic() + 30
        while shadow.busy and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        shadow.close()
    verdicts = [orjson.loads(p.value or b"") for p in producer.produced]
    assert len(verdicts) == len(texts)
    assert {(v["policy"], v["label"], v["action"]) for v in verdicts} == {
        ("default", model.policy.positive_label, "block")
    }
