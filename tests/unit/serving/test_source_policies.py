"""Policies per source in the loop (`consumer.serving.policies`): the input's `source` or a
metadata value picks the thresholds, verdicts name the policy, a changed file is reloaded
between batches and a bad one refused while the old policies keep serving."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from consumer.model.classifier import Policy
from consumer.serving.policies import SourcePolicies
from consumer.stream.metrics import Metrics
from tests.fakes import FakeMessage, Produced, fake_classifier, make_worker, record

# The fake model gives 0.8 to texts with "bad", 0.1 to the others; its policy: threshold 0.5,
# no review band, block from 0.5.
POLICIES = """\
[default]
review_threshold = 0.05

[sources.strict]
threshold = 0.05
block_threshold = 0.05

[sources.lenient]
threshold = 0.9
block_threshold = 0.95
"""


def message(offset: int, text: str, **fields: object) -> FakeMessage:
    return record(offset, orjson.dumps({"text": text, **fields}))


def verdicts(produced: list[Produced]) -> list[dict[str, Any]]:
    return [orjson.loads(p.value or b"") for p in produced if p.topic == "content.verdicts"]


def policies_at(tmp_path: Path, text: str = POLICIES, **kwargs: Any) -> SourcePolicies:
    path = tmp_path / "policies.toml"
    path.write_text(text)
    return SourcePolicies(path, Metrics(), **kwargs)


def test_each_source_is_decided_by_its_policy_and_the_verdict_names_it(tmp_path: Path) -> None:
    batch = [
        message(0, "fine words", source="strict"),
        message(1, "bad words", source="lenient"),
        message(2, "fine words", source="elsewhere"),
        message(3, "bad words"),
    ]
    policies = policies_at(tmp_path)
    worker, _, producer = make_worker([batch])
    worker.policies = policies
    worker.process(batch)
    out = verdicts(producer.produced)
    assert [(v["policy"], v["label"], v["action"]) for v in out] == [
        ("strict", "malicious", "block"),  # 0.1 >= 0.05
        ("lenient", "benign", "allow"),  # 0.8 < 0.9
        ("default", "benign", "review"),  # 0.1 >= 0.05: the default's review band
        ("default", "malicious", "block"),  # the model's block threshold, kept by default
    ]
    # Scores are the model's whatever the policy.
    assert [v["scores"]["malicious"] for v in out] == [0.1, 0.8, 0.1, 0.8]
    counted = policies._metrics.registry.get_sample_value
    assert (
        counted("content_classifier_policy_verdicts_total", {"policy": "strict", "action": "block"})
        == 1
    )


def test_a_metadata_key_can_select_the_policy(tmp_path: Path) -> None:
    batch = [
        message(0, "fine words", source="lenient", metadata={"tenant": "strict"}),
        message(1, "fine words", metadata={"other": "x"}),
    ]
    worker, _, producer = make_worker([batch])
    worker.policies = policies_at(tmp_path, metadata_key="tenant")
    worker.process(batch)
    assert [v["policy"] for v in verdicts(producer.produced)] == ["strict", "default"]


def test_without_a_policy_file_verdicts_name_the_models_policy() -> None:
    batch = [message(0, "bad words", source="strict")]
    worker, _, producer = make_worker([batch])
    worker.process(batch)
    [verdict] = verdicts(producer.produced)
    assert (verdict["policy"], verdict["action"]) == ("model", "block")


def test_a_changed_file_is_reloaded_and_a_bad_one_refused(tmp_path: Path) -> None:
    now = [0.0]
    policies = policies_at(tmp_path, interval_s=10, clock=lambda: now[0])
    path = policies.path
    path.write_text(POLICIES.replace("threshold = 0.9", "threshold = 0.7"))
    assert policies.reload_if_changed() is False  # not yet time to look
    now[0] = 11
    assert policies.reload_if_changed() is True
    assert policies.current.by_value["lenient"]["threshold"] == 0.7
    path.write_text("[sources.lenient]\nthreshold = 7\n")
    now[0] = 22
    assert policies.reload_if_changed() is False
    assert policies.current.by_value["lenient"]["threshold"] == 0.7  # the old ones serve
    reloads = policies._metrics.registry.get_sample_value
    assert reloads("content_classifier_policy_reloads_total", {"result": "refused"}) == 1
    assert reloads("content_classifier_policy_reloads_total", {"result": "loaded"}) == 1


def test_a_model_without_a_positive_label_keeps_its_own_decisions(tmp_path: Path) -> None:
    multi = replace(fake_classifier(), policy=Policy(positive_label=None))
    batch = [message(0, "bad words", source="strict")]
    worker, _, producer = make_worker([batch], classifier=multi)
    worker.policies = policies_at(tmp_path)
    worker.process(batch)
    [verdict] = verdicts(producer.produced)
    assert verdict["policy"] == "model" and verdict["action"] is None
