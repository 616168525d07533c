"""`content-classifier export-feedback`: moderators' decisions as labelled JSONL for `train
--data`, each text read from the input topic at the offset its verdict names.

    content-classifier export-feedback --out feedback.jsonl
    content-classifier train --data feedback.jsonl --out models/retrained

It reads FEEDBACK_TOPIC from the beginning (or from `--since`) to its end. A feedback record
that carries `source` names the input record itself; one without it is looked up in the
verdicts of the last FEEDBACK_WINDOW_S (the verdict topic, read as the `feedback` command
reads it). When a verdict was judged more than once, the latest decision wins. Each line:

    {"text": "...", "label": "malicious", "provenance": {"verdict_id": "...",
     "topic": "content.raw", "partition": 3, "offset": 1042, "decided_at": "...",
     "model_version": "0.4.1"}}

Records it cannot use are counted in its summary and named in a log line: feedback that is
not JSON or breaks its contract, an id with no verdict in the window, an input record gone
from the topic (retention) or no longer a valid message.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.contracts.messages import Feedback
from consumer.quality.feedback import Rejected, VerdictIndex, parse_feedback
from consumer.tools.feedback import index_verdicts, log_skipped
from consumer.tools.feedback_topics import (
    FeedbackError,
    at_end,
    open_verdicts,
    reader,
    topic_partitions,
)

__all__ = ["ExportResult", "export_feedback"]

log = get_logger(__name__)


@dataclass(slots=True)
class ExportResult:
    read: int = 0
    written: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


def _read_to_end(consumer: Consumer, timeout_s: float) -> list[Any]:
    """Every record from the assigned positions to the end of each partition."""
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = consumer.consume(1000, 0.2)
        out.extend(record for record in batch if record.error() is None)
        if not batch and at_end(consumer):
            break
    return out


def _feedback_records(settings: Settings, since: datetime | None, timeout_s: float) -> list[Any]:
    topic = settings.feedback_topic
    if not topic:
        raise FeedbackError("FEEDBACK_TOPIC is not set: the topic moderators' decisions go to")
    consumer = reader(settings, "export-feedback")
    try:
        partitions = topic_partitions(consumer, topic)
        starts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
        if since is not None:
            found = consumer.offsets_for_times(
                [TopicPartition(topic, p, int(since.timestamp() * 1000)) for p in partitions],
                timeout=10,
            )
            starts = [
                TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
                for tp in found
            ]
        consumer.assign(starts)
        return _read_to_end(consumer, timeout_s)
    finally:
        consumer.close()


def _verdict_index(settings: Settings, timeout_s: float) -> VerdictIndex:
    index = VerdictIndex(settings.feedback_max_verdicts, settings.feedback_window_s)
    consumer = open_verdicts(
        settings, time.time() - settings.feedback_window_s, "export-feedback-index"
    )
    try:
        index_verdicts(index, _read_to_end(consumer, timeout_s))
    finally:
        consumer.close()
    return index


#: Wanted offsets further apart than this are reached by a new assignment, not by reading on.
_SEEK_GAP = 10_000


def _texts(
    settings: Settings, wanted: set[tuple[str, int, int]], timeout_s: float
) -> dict[tuple[str, int, int], str | None]:
    """The text of each input record (None: gone, or not a valid message any more). Each
    partition is read forward from its first wanted offset, jumping over long gaps."""
    found: dict[tuple[str, int, int], str | None] = dict.fromkeys(wanted)
    by_partition: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in wanted:
        by_partition.setdefault((topic, partition), []).append(offset)
    if not wanted:
        return found
    consumer = reader(settings, "export-feedback")
    try:
        for (topic, partition), offsets in sorted(by_partition.items()):
            pending = sorted(offsets)
            position = -1
            deadline = time.monotonic() + timeout_s
            while pending and time.monotonic() < deadline:
                target = pending[0]
                if position < 0 or target - position > _SEEK_GAP:
                    consumer.assign([TopicPartition(topic, partition, target)])
                    position = target
                record = consumer.poll(0.5)
                if record is None:
                    _, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), cached=True
                    )
                    if 0 <= high <= max(position, target):
                        break  # the partition ends before the rest: never written
                    continue
                if record.error() is not None:
                    continue
                if record.topic() != topic or record.partition() != partition:
                    continue  # fetched for an earlier assignment
                offset = int(record.offset() or 0)
                position = offset + 1
                while pending and pending[0] < offset:
                    pending.pop(0)  # skipped over: compacted away
                if pending and pending[0] == offset:
                    found[(topic, partition, offset)] = _text_of(record.value())
                    pending.pop(0)
    finally:
        consumer.close()
    return found


def _text_of(value: bytes | None) -> str | None:
    try:
        text = orjson.loads(value or b"").get("text")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return text if isinstance(text, str) and text.strip() else None


def export_feedback(
    settings: Settings, out: Path, *, since: datetime | None = None, timeout_s: float = 60.0
) -> ExportResult:
    result = ExportResult()
    records = _feedback_records(settings, since, timeout_s)
    index = _verdict_index(settings, timeout_s)
    latest: dict[str, Feedback] = {}
    for record in records:
        result.read += 1
        parsed = parse_feedback(record.value())
        if isinstance(parsed, Rejected):
            result.skipped[parsed.reason] += 1
            log_skipped(parsed, record)
            continue
        verdict = index.get(parsed.id)
        if verdict is not None and parsed.label not in verdict.labels:
            result.skipped["unknown_label"] += 1
            log.warning("feedback record skipped", reason="unknown_label", verdict_id=parsed.id)
            continue
        latest[parsed.id] = parsed  # the latest valid decision on a verdict wins
    rows: list[tuple[Feedback, tuple[str, int, int], str | None]] = []
    for feedback in latest.values():
        verdict = index.get(feedback.id)
        if feedback.source is not None:
            where = (feedback.source.topic, feedback.source.partition, feedback.source.offset)
        elif verdict is not None:
            where = (verdict.topic, verdict.partition, verdict.offset)
        else:
            result.skipped["unknown_id"] += 1
            log.warning("feedback record skipped", reason="unknown_id", verdict_id=feedback.id)
            continue
        rows.append((feedback, where, verdict.model_version if verdict else None))
    texts = _texts(settings, {where for _, where, _ in rows}, timeout_s)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as sink:
        for feedback, (topic, partition, offset), version in rows:
            text = texts.get((topic, partition, offset))
            if text is None:
                result.skipped["input_unavailable"] += 1
                log.warning(
                    "feedback record skipped: its input record is gone or not a message",
                    reason="input_unavailable",
                    verdict_id=feedback.id,
                    topic=topic,
                    partition=partition,
                    offset=offset,
                )
                continue
            provenance: dict[str, Any] = {
                "verdict_id": feedback.id,
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "decided_at": feedback.decided_at.isoformat() if feedback.decided_at else None,
            }
            if version is not None:
                provenance["model_version"] = version
            sink.write(
                orjson.dumps({"text": text, "label": feedback.label, "provenance": provenance})
                + b"\n"
            )
            result.written += 1
            result.labels[feedback.label] += 1
    return result
