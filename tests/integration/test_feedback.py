"""Moderator feedback on a real broker: a worker makes verdicts, the `feedback` consumer group
matches decisions to them and counts them (bad records counted and skipped), each once across a
crash, and `export-feedback` writes the decided texts as JSONL that `train --data` accepts."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.config.settings import Settings
from consumer.contracts.messages import ModelRef, SourceRef, Verdict
from consumer.devkit.broker import EMBEDDED_CLIENT_PROPERTIES
from consumer.tools import feedback as feedback_tool
from consumer.tools.feedback import FeedbackMetrics, run_feedback
from tests.conftest import Topics, labelled_texts
from tests.integration.conftest import RunWorker
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
    run_worker: RunWorker,
    tmp_path: Path,
) -> None:
    t = topics(partitions=2, extra={"feedback": 2})
    feedback_topic = t.extra["feedback"]
    worker = run_worker(topics=t, FEEDBACK_TOPIC=feedback_topic, FEEDBACK_GRACE_S="1")
    env = worker.env
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
    joiner = run_worker(like=worker, command=("feedback",), METRICS_PORT="0")
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


class Crash(Exception):
    """The feedback process dies."""


class CrashOnCommit:
    """The feedback consumer of a process that dies, once `armed`, at its next commit: after
    it judged a batch and before that batch is committed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = threading.Event()

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        if self.armed.is_set():
            raise Crash("killed between counting and committing")
        return self.inner.commit(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FeedbackRun:
    """One process of `content-classifier feedback`: `run_feedback` in a thread, with the
    metrics it serves."""

    def __init__(self, settings: Settings) -> None:
        self.metrics = FeedbackMetrics()
        self.stop = threading.Event()
        self.crashed: Crash | None = None
        self.thread = threading.Thread(target=self._run, args=(settings,), daemon=True)
        self.thread.start()

    def _run(self, settings: Settings) -> None:
        try:
            run_feedback(settings, self.stop, self.metrics)
        except Crash as exc:
            self.crashed = exc

    def counts(self) -> dict[tuple[str, str, str], float]:
        return {
            (s.labels["model_version"], s.labels["predicted_label"], s.labels["decided_label"]): (
                s.value
            )
            for metric in self.metrics.registry.collect()
            for s in metric.samples
            if s.name == "content_classifier_feedback_total"
        }

    def rejected(self, reason: str) -> float:
        found = self.metrics.registry.get_sample_value(
            "content_classifier_feedback_rejected_total", {"reason": reason}
        )
        return found or 0.0

    def wait_until(self, done: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert self.thread.is_alive(), f"the feedback run ended before {what}"
            assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
            time.sleep(0.1)

    def end(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def verdict_record(ident: str, offset: int) -> tuple[bytes, bytes, None]:
    verdict = Verdict(
        id=ident,
        label="malicious",
        score=0.9,
        scores={"benign": 0.1, "malicious": 0.9},
        model=ModelRef(name="m", version="1.0"),
        source=SourceRef(topic="in", partition=0, offset=offset),
        classified_at=datetime.now(UTC),
    )
    return ident.encode(), verdict.model_dump_json().encode(), None


def decisions(idents: list[str], label: str) -> list[tuple[bytes, bytes, None]]:
    """A moderation tool's records, keyed by the verdict's id."""
    return [(i.encode(), orjson.dumps({"id": i, "label": label}), None) for i in idents]


def test_a_decision_read_or_sent_again_after_a_crash_is_counted_once(
    bootstrap: str, topics: Callable[..., Topics], monkeypatch: pytest.MonkeyPatch
) -> None:
    t = topics(partitions=1, extra={"feedback": 2})
    feedback_topic = t.extra["feedback"]
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        output_topic=t.output,
        group_id=t.group,
        feedback_topic=feedback_topic,
        kafka=dict(EMBEDDED_CLIENT_PROPERTIES),
    )
    idents = [f"v{i}" for i in range(20)]
    produce(bootstrap, t.output, [verdict_record(i, n) for n, i in enumerate(idents)])
    first, second = idents[:10], idents[10:]
    # The first process: its feedback consumer can be made to die at a commit.
    crashing: list[CrashOnCommit] = []
    real_reader = feedback_tool.reader

    def reader(settings: Settings, purpose: str, **options: Any) -> Any:
        consumer = real_reader(settings, purpose, **options)
        if purpose != "feedback" or crashing:
            return consumer
        crashing.append(CrashOnCommit(consumer))
        return crashing[0]

    monkeypatch.setattr(feedback_tool, "reader", reader)
    run = FeedbackRun(settings)
    sent = produce(bootstrap, feedback_topic, decisions(first, "benign"))
    run.wait_until(lambda: sum(run.counts().values()) == 10, "first decisions counted")
    # It reads the next decisions, judges them and dies before committing them.
    crashing[0].armed.set()
    produce(bootstrap, feedback_topic, decisions(second, "malicious"))
    run.thread.join(60)
    assert isinstance(run.crashed, Crash)
    before_crash = run.counts()
    # The moderation tool sends five of the first decisions again (a retry), each to the other
    # partition than the first time.
    other = {n: 1 - s.partition for n, s in enumerate(sent[:5])}
    produce(bootstrap, feedback_topic, decisions(first[:5], "benign"), partition_of=other)
    # The restarted process: a fresh index and fresh counters, the group's committed offsets.
    again = FeedbackRun(settings)
    try:
        # 15 records after the committed offsets: ten read again, five sent again.
        again.wait_until(
            lambda: sum(again.counts().values()) + again.rejected("duplicate") >= 15,
            "decisions after the committed offsets judged",
        )
        time.sleep(2)  # anything counted twice would show by now
    finally:
        again.end()
    after_restart = again.counts()
    # What Prometheus sees over both processes: every decision once.
    total = {
        key: before_crash.get(key, 0.0) + after_restart.get(key, 0.0)
        for key in before_crash.keys() | after_restart.keys()
    }
    assert total == {("1.0", "malicious", "benign"): 10, ("1.0", "malicious", "malicious"): 10}
    assert before_crash == {("1.0", "malicious", "benign"): 10}
    assert again.rejected("duplicate") == 5
