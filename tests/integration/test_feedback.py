"""Moderator feedback on a real broker: a worker makes verdicts, the `feedback` consumer group
matches decisions to them and counts them (bad records counted and skipped), and
`export-feedback` writes the decided texts as JSONL that `train --data` accepts."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from consumer.contracts.messages import Verdict
from consumer.devkit.broker import create_topics
from consumer.devkit.harness import WorkerProcess
from tests.conftest import Topics, labelled_texts
from tests.kafka_helpers import produce, read_topic
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.integration

COUNT = 200


def feedback_count(metrics: bytes) -> dict[tuple[str, str, str], float]:
    found = re.findall(
        rb'^content_classifier_feedback_total\{decided_label="(\w+)",model_version="([^"]+)",'
        rb'predicted_label="(\w+)"\} (\S+)$',
        metrics,
        flags=re.MULTILINE,
    )
    return {(v.decode(), p.decode(), d.decode()): float(n) for d, v, p, n in found}


def test_feedback_is_counted_per_model_version_and_exported_for_training(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    t = topics(partitions=2)
    feedback_topic = f"{t.output}-feedback"
    create_topics(bootstrap, [(feedback_topic, 2)])
    env = worker_env(t, FEEDBACK_TOPIC=feedback_topic, FEEDBACK_GRACE_S="1")
    worker = start_worker(env)
    rows = labelled_texts(COUNT, seed=51)
    texts = {f"m{i}": text for i, (text, _) in enumerate(rows)}
    produce(
        bootstrap,
        t.input,
        [(None, orjson.dumps({"id": ident, "text": text}), None) for ident, text in texts.items()],
    )
    out = read_topic(bootstrap, t.output, t.partitions, expect=COUNT)
    verdicts = {v.id: v for v in (Verdict.model_validate_json(o.value or b"") for o in out)}
    sources = {ident: v.source for ident, v in verdicts.items() if v.source is not None}
    assert len(sources) == len(verdicts)
    assert worker.terminate()[0] == 0
    joiner = WorkerProcess(
        {**env, "METRICS_PORT": "0"},
        tmp_path / "feedback.log",
        ("-m", "consumer", "feedback"),
        cwd=REPO_ROOT,
    ).start()
    try:
        joiner.wait_for_log("feedback index caught up", timeout_s=60)
        # Moderators: the first 40 verdicts judged (the true label), the first 10 with their
        # source, a few records that must be skipped.
        decisions = []
        for i in range(40):
            ident = f"m{i}"
            record: dict[str, object] = {"id": ident, "label": rows[i][1]}
            if i < 10:
                record["source"] = sources[ident].model_dump()
            decisions.append((ident.encode(), orjson.dumps(record), None))
        decisions += [
            (b"x", b"{not json", None),
            (b"y", orjson.dumps({"id": "nope", "label": "benign"}), None),
            (b"z", orjson.dumps({"id": "m1", "label": "spam"}), None),
        ]
        produce(bootstrap, feedback_topic, decisions)
        deadline = time.monotonic() + 30
        counts: dict[tuple[str, str, str], float] = {}
        while time.monotonic() < deadline:
            metrics = joiner.probe("/metrics")[1]
            counts = feedback_count(metrics)
            if sum(counts.values()) >= 40 and b'reason="unknown_id"} 1.0' in metrics:
                break
            time.sleep(0.3)
        expected: dict[tuple[str, str, str], float] = {}
        for i in range(40):
            key = ("9.9.9", verdicts[f"m{i}"].label, rows[i][1])
            expected[key] = expected.get(key, 0) + 1
        assert counts == expected
        metrics = joiner.probe("/metrics")[1]
        for reason in ("invalid_json", "unknown_id", "unknown_label"):
            assert re.search(
                rf'content_classifier_feedback_rejected_total{{reason="{reason}"}} 1.0'.encode(),
                metrics,
            ), reason
        assert "feedback record skipped" in joiner.log()
    finally:
        assert joiner.terminate()[0] == 0
    # From review to retraining: one command each.
    exported = tmp_path / "feedback.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "consumer", "export-feedback", "--out", str(exported)],
        env={**env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "40 rows written" in done.stdout, done.stdout
    assert "invalid_json=1, unknown_id=1, unknown_label=1" in done.stdout, done.stdout
    lines = [orjson.loads(line) for line in exported.read_bytes().splitlines()]
    assert len(lines) == 40
    for line in lines:
        ident = line["provenance"]["verdict_id"]
        assert line["text"] == texts[ident]
        assert line["label"] == rows[int(ident[1:])][1]
        assert line["provenance"]["offset"] == sources[ident].offset
    trained = subprocess.run(
        [
            sys.executable,
            "-m",
            "consumer",
            "train",
            "--data",
            str(exported),
            "--out",
            str(tmp_path / "retrained"),
            "--version",
            "0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO_ROOT,
    )
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "retrained" / "manifest.json").is_file()
