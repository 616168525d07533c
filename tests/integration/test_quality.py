"""Verdict quality on a real broker: the score distribution and its drift on /metrics, and a
shadow model whose verdicts go to their own topic while the primary's are untouched."""

from __future__ import annotations

import math
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from consumer.contracts.messages import Verdict
from tests.conftest import Topics, labelled_texts
from tests.integration.conftest import RunWorker
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration

COUNT = 600


def sample(metrics: bytes, name: str, labels: str = "") -> float | None:
    pattern = rf"^{re.escape(name)}{{{labels}[^}}]*}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern.encode(), metrics, flags=re.MULTILINE)
    return float(found.group(1)) if found else None


def test_a_shadow_model_scores_live_batches_beside_the_primary(
    bootstrap: str,
    topics: Callable[..., Topics],
    run_worker: RunWorker,
    tiny_transformer_path: Path,
) -> None:
    t = topics(partitions=2, extra={"shadow": 1})
    shadow_topic = t.extra["shadow"]
    worker = run_worker(
        topics=t,
        SHADOW_MODEL_PATH=str(tiny_transformer_path),
        SHADOW_OUTPUT_TOPIC=shadow_topic,
        DRIFT_MIN_VERDICTS="100",
        BATCH_MAX_MESSAGES="100",
    )
    worker.wait_for_log("shadow model loaded")
    rows = labelled_texts(COUNT, seed=31)
    records = [
        (f"k{i % 5}".encode(), orjson.dumps({"id": f"m{i}", "text": text}), None)
        for i, (text, _) in enumerate(rows)
    ]
    produce(bootstrap, t.input, records)
    # The primary: one verdict per record, none marked as a shadow's.
    out = read_topic(bootstrap, t.output, t.partitions, expect=COUNT)
    verdicts = [Verdict.model_validate_json(o.value or b"") for o in out]
    assert sorted(v.id for v in verdicts) == sorted(f"m{i}" for i in range(COUNT))
    assert {v.model.name for v in verdicts} == {"tiny"}
    assert all(v.shadow is None for v in verdicts)
    assert all(b'"shadow"' not in (o.value or b"") for o in out)
    # The shadow: verdicts of the batches it took (a busy shadow skips batches), marked.
    time.sleep(1.0)
    status, metrics = worker.probe("/metrics")
    assert status == 200
    scored = sample(metrics, "content_classifier_shadow_batches_total", 'result="scored"') or 0
    assert scored >= 1
    shadow_out = read_topic(bootstrap, shadow_topic, 1)
    shadowed = [Verdict.model_validate_json(o.value or b"") for o in shadow_out]
    assert shadowed and all(v.shadow is True for v in shadowed)
    assert {v.model.name for v in shadowed} == {"tiny-transformer"}
    assert {v.id for v in shadowed} <= {v.id for v in verdicts}
    by_id = {v.id: v for v in verdicts}
    assert all(s.source == by_id[s.id].source for s in shadowed)
    agreement = [
        float(value)
        for value in re.findall(
            rb"^content_classifier_shadow_agreement_total\{[^}]*\} (\S+)$",
            metrics,
            flags=re.MULTILINE,
        )
    ]
    assert sum(agreement) == len(shadowed)
    # The primary's score distribution and its drift against the tiny model's baseline.
    counted = re.findall(
        rb'^content_classifier_score_count\{action="(\w+)",model_version="9.9.9"\} (\S+)$',
        metrics,
        flags=re.MULTILINE,
    )
    assert sum(float(n) for _, n in counted) == COUNT
    psi = sample(metrics, "content_classifier_score_psi", 'model_version="9.9.9"')
    assert psi is not None and math.isfinite(psi) and psi >= 0
    assert sample(metrics, "content_classifier_window_verdicts") == COUNT
    assert worker.terminate()[0] == 0


def test_a_shadow_model_that_fails_verification_stops_start_up_naming_the_variable(
    run_worker: RunWorker,
    tiny_model_path: Path,
    tmp_path: Path,
) -> None:
    tampered = tmp_path / "shadow"
    shutil.copytree(tiny_model_path, tampered)
    model_file = tampered / "model.joblib"
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    worker = run_worker(partitions=1, SHADOW_MODEL_PATH=str(tampered))
    code = worker.wait(timeout_s=60)
    assert code == 2
    assert "SHADOW_MODEL_PATH" in worker.log() and "sha256" in worker.log()


POLICIES = """\
[sources.strict]
threshold = 0.0
block_threshold = 0.0

[sources.lenient]
threshold = 1.0
block_threshold = 1.0
"""


def test_policies_per_source_decide_verdicts_and_reload_between_batches(
    bootstrap: str,
    run_worker: RunWorker,
    tmp_path: Path,
) -> None:
    policy_file = tmp_path / "policies.toml"
    policy_file.write_text(POLICIES)
    worker = run_worker(partitions=2, POLICY_FILE=str(policy_file), MODEL_RELOAD_INTERVAL_S="0.2")
    t = worker.topics
    rows = labelled_texts(90, seed=41)
    sources = ["strict", "lenient", "other"]
    records = [
        (None, orjson.dumps({"id": f"m{i}", "text": text, "source": sources[i % 3]}), None)
        for i, (text, _) in enumerate(rows)
    ]
    produce(bootstrap, t.input, records)
    out = read_topic(bootstrap, t.output, t.partitions, expect=len(records))
    by_source: dict[str, set[tuple[str | None, str | None]]] = {s: set() for s in sources}
    for o in out:
        verdict = Verdict.model_validate_json(o.value or b"")
        by_source[sources[int(verdict.id[1:]) % 3]].add((verdict.policy, verdict.action))
    assert by_source["strict"] == {("strict", "block")}
    assert by_source["lenient"] == {("lenient", "allow")}
    assert {policy for policy, _ in by_source["other"]} == {"model"}
    # A bad edit is refused (the old policies serve); a good one is taken between batches.
    policy_file.write_text(POLICIES.replace("threshold = 1.0", "threshold = 2.0", 1))
    worker.wait_for_log("policy file refused")
    policy_file.write_text(POLICIES.replace("[sources.lenient]", "[sources.other]"))
    worker.wait_for_log("policies reloaded")
    more = [
        (None, orjson.dumps({"id": f"n{i}", "text": text, "source": "other"}), None)
        for i, (text, _) in enumerate(rows[:10])
    ]
    produce(bootstrap, t.input, more)
    out = read_topic(bootstrap, t.output, t.partitions, expect=len(records) + len(more))
    later = [Verdict.model_validate_json(o.value or b"") for o in out]
    assert {(v.policy, v.action) for v in later if v.id.startswith("n")} == {("other", "allow")}
    assert worker.terminate()[0] == 0


def test_an_invalid_policy_file_stops_start_up_naming_the_line(
    run_worker: RunWorker,
    tmp_path: Path,
) -> None:
    policy_file = tmp_path / "policies.toml"
    policy_file.write_text(POLICIES.replace("block_threshold = 0.0", "block_threshold = -1"))
    worker = run_worker(partitions=1, POLICY_FILE=str(policy_file))
    assert worker.wait(timeout_s=60) == 2
    assert f"POLICY_FILE: {policy_file}:3: [sources.strict] block_threshold = -1" in worker.log()
