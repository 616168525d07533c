"""The shadow model under a backlog, on a real broker: with room in its queue, a shadow as
cheap as the primary scores every text the primary classified; whatever it does, the
primary's verdicts, dead letters and commits are those of a worker without a shadow."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.contracts.messages import Verdict
from tests.conftest import Topics, labelled_texts
from tests.integration.conftest import RunningWorker, RunWorker
from tests.kafka_helpers import committed_offsets, partition_ends, produce, read_topic

pytestmark = pytest.mark.integration

#: The backlog of the issue (2,000 records), and records the primary dead-letters.
GOOD, BAD = 2000, 20
RESULTS = ("scored", "busy", "slow", "failed")


def backlog() -> list[tuple[bytes | None, bytes | None, None]]:
    rows = labelled_texts(GOOD, seed=53)
    good: list[tuple[bytes | None, bytes | None, None]] = [
        (f"k{i % 16}".encode(), orjson.dumps({"id": f"m{i}", "text": text}), None)
        for i, (text, _) in enumerate(rows)
    ]
    bad: list[tuple[bytes | None, bytes | None, None]] = [
        (f"k{i % 16}".encode(), b"not json", None) for i in range(BAD)
    ]
    return good[: GOOD // 2] + bad + good[GOOD // 2 :]


def counts(worker: RunningWorker, metric: str) -> dict[str, float]:
    """A counter's samples by the value of their one label."""
    _, metrics = worker.probe("/metrics")
    pattern = rf"^{re.escape(metric)}{{\w+=\"(\w+)\"}} (\S+)$"
    return {
        label.decode(): float(value)
        for label, value in re.findall(pattern.encode(), metrics, flags=re.MULTILINE)
    }


def shadow_texts(worker: RunningWorker, offered: int, timeout_s: float = 60) -> dict[str, float]:
    """The shadow's texts by result, once every offered text has one."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = counts(worker, "content_classifier_shadow_texts_total")
        if sum(found.values()) >= offered or time.monotonic() > deadline:
            return {result: found.get(result, 0.0) for result in RESULTS}
        time.sleep(0.2)


def decisions(outputs: list[Any]) -> dict[str, tuple[str, str | None, float]]:
    verdicts = [Verdict.model_validate_json(o.value or b"") for o in outputs]
    return {v.id: (v.label, v.action, v.score) for v in verdicts}


def run_backlog(
    bootstrap: str,
    topics: Callable[..., Topics],
    run_worker: RunWorker,
    shadow_folder: Path,
    queue_batches: str | None = None,
) -> tuple[Topics, RunningWorker, dict[str, float], list[Any], list[Any]]:
    """The backlog written in full, then a worker with a shadow on it (SHADOW_QUEUE_BATCHES
    left to its default when `queue_batches` is None); returns the topics, the worker, the
    shadow's texts by result, and the primary's verdicts and dead letters."""
    t = topics(partitions=4, extra={"shadow": 4, "alone": 4})
    sent = produce(bootstrap, t.input, backlog())
    path, topic = str(shadow_folder), t.extra["shadow"]
    if queue_batches is None:
        worker = run_worker(topics=t, SHADOW_MODEL_PATH=path, SHADOW_OUTPUT_TOPIC=topic)
    else:
        worker = run_worker(
            topics=t,
            SHADOW_MODEL_PATH=path,
            SHADOW_OUTPUT_TOPIC=topic,
            SHADOW_QUEUE_BATCHES=queue_batches,
        )
    out = read_topic(bootstrap, t.output, t.partitions, expect=GOOD)
    dead = read_topic(bootstrap, t.dlq, 1, expect=BAD)
    texts = shadow_texts(worker, GOOD)
    assert worker.terminate()[0] == 0
    assert committed_offsets(bootstrap, t.group, t.input, t.partitions) == partition_ends(sent)
    return t, worker, texts, out, dead


@pytest.fixture
def cheap_shadow(tiny_model_path: Path, tmp_path: Path) -> Path:
    """A copy of the primary's model as the shadow: exactly as costly."""
    folder = tmp_path / "shadow-model"
    shutil.copytree(tiny_model_path, folder)
    return folder


def test_with_room_in_its_queue_the_shadow_covers_a_backlog_and_the_primary_is_unchanged(
    bootstrap: str,
    topics: Callable[..., Topics],
    run_worker: RunWorker,
    cheap_shadow: Path,
) -> None:
    t, worker, texts, out, dead = run_backlog(
        bootstrap, topics, run_worker, cheap_shadow, queue_batches="1000"
    )
    # Every text the primary classified was scored by the shadow: none dropped.
    assert texts == {"scored": GOOD, "busy": 0, "slow": 0, "failed": 0}
    shadowed = read_topic(bootstrap, t.extra["shadow"], t.partitions, expect=GOOD)
    assert (
        sorted(decisions(shadowed))
        == sorted(decisions(out))
        == sorted(f"m{i}" for i in range(GOOD))
    )
    # The same model as the shadow agrees with the primary on every text.
    assert decisions(shadowed) == decisions(out)
    # The primary: one verdict per good record, one dead letter per bad one, as a worker
    # without a shadow on the same backlog (another group, another output topic).
    assert len(out) == GOOD and len(dead) == BAD
    alone = run_worker(topics=t, GROUP_ID=f"{t.group}-alone", OUTPUT_TOPIC=t.extra["alone"])
    alone_out = read_topic(bootstrap, t.extra["alone"], t.partitions, expect=GOOD)
    assert decisions(alone_out) == decisions(out)
    assert alone.terminate()[0] == 0
    assert "shadow model failed" not in worker.log()


def test_with_the_default_queue_every_offered_text_is_counted_once(
    bootstrap: str,
    topics: Callable[..., Topics],
    run_worker: RunWorker,
    cheap_shadow: Path,
) -> None:
    t, worker, texts, out, dead = run_backlog(bootstrap, topics, run_worker, cheap_shadow)
    assert (len(out), len(dead)) == (GOOD, BAD)
    # Coverage is what the machine had room for; each text the primary classified has one
    # result, and the shadow's verdicts are those of the scored texts.
    assert sum(texts.values()) == GOOD
    assert texts["scored"] > 0 and texts["failed"] == texts["slow"] == 0
    shadowed = read_topic(bootstrap, t.extra["shadow"], t.partitions, expect=int(texts["scored"]))
    assert len(shadowed) == texts["scored"]
    assert "shadow model failed" not in worker.log()


SHADOW_POLICIES = """\
[sources.strict]
threshold = 0.0
block_threshold = 0.0

[sources.lenient]
threshold = 1.0
block_threshold = 1.0
"""


def test_the_shadow_decides_with_the_policy_file_per_source_like_the_primary(
    bootstrap: str,
    topics: Callable[..., Topics],
    run_worker: RunWorker,
    cheap_shadow: Path,
    tmp_path: Path,
) -> None:
    """`run` hands the primary's policies to the shadow: a shadow verdict names the policy of
    its record's source and takes its action, as the primary's verdict of the record does."""
    policy_file = tmp_path / "policies.toml"
    policy_file.write_text(SHADOW_POLICIES)
    t = topics(partitions=2, extra={"shadow": 2})
    sources = ["strict", "lenient", "other"]
    rows = labelled_texts(60, seed=47)
    records: list[tuple[bytes | None, bytes | None, None]] = [
        (None, orjson.dumps({"id": f"m{i}", "text": text, "source": sources[i % 3]}), None)
        for i, (text, _) in enumerate(rows)
    ]
    produce(bootstrap, t.input, records)
    worker = run_worker(
        topics=t,
        POLICY_FILE=str(policy_file),
        SHADOW_MODEL_PATH=str(cheap_shadow),
        SHADOW_OUTPUT_TOPIC=t.extra["shadow"],
    )
    primary = read_topic(bootstrap, t.output, t.partitions, expect=len(records))
    shadow = read_topic(bootstrap, t.extra["shadow"], 2, expect=len(records))
    assert worker.terminate()[0] == 0

    def decided(outputs: list[Any]) -> dict[str, tuple[str | None, str | None]]:
        verdicts = [Verdict.model_validate_json(o.value or b"") for o in outputs]
        return {v.id: (v.policy, v.action) for v in verdicts}

    by_primary, by_shadow = decided(primary), decided(shadow)
    assert by_shadow == by_primary
    for ident, (policy, action) in by_shadow.items():
        source = sources[int(ident[1:]) % 3]
        if source == "strict":
            assert (policy, action) == ("strict", "block")
        elif source == "lenient":
            assert (policy, action) == ("lenient", "allow")
        else:
            assert policy == "model"
