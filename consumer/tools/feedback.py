"""`content-classifier feedback`: match moderators' decisions to the verdicts they judge, and
count them by model version, predicted label and decided label.

Why a consumer group of its own and not the worker: a verdict and the feedback on it are on
unrelated partitions (the verdict is keyed by its input's key, the feedback by whatever the
moderation tool uses), so a worker, which sees only its own partitions' verdicts, could
match only a fraction of the feedback; a joiner that reads every verdict partition can match
all of it. It also keeps the feedback path (a tool's bad records, a slow topic) away from the
verdict path, and it scales on its own: feedback is a trickle beside the input.

It reads every partition of OUTPUT_TOPIC from FEEDBACK_WINDOW_S ago into a bounded index
(`consumer.quality.feedback.VerdictIndex`; no offsets committed: it rebuilds on start), and
FEEDBACK_TOPIC as the consumer group `<GROUP_ID>.feedback`, committing what it has counted.
Feedback is taken only once the index has read the verdict topic to its end, so a restart
does not reject feedback whose verdicts it has not read yet; after that, a decision that
overtakes its verdict (the topics are read side by side) waits up to GRACE_S for it. Metrics on
METRICS_PORT: `content_classifier_feedback_total{model_version, predicted_label,
decided_label}` (live precision and recall are ratios of it), `..._feedback_rejected_total
{reason}`, and the index's size and age.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaError, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.contracts.messages import Feedback
from consumer.quality.feedback import Judged, Rejected, VerdictIndex, judge, parse_feedback
from consumer.stream.health import Health

__all__ = [
    "FeedbackError",
    "FeedbackJoiner",
    "FeedbackMetrics",
    "at_end",
    "index_verdicts",
    "log_skipped",
    "open_verdicts",
    "reader",
    "run_feedback",
    "topic_partitions",
]

log = get_logger(__name__)

PREFIX = "content_classifier_"


class FeedbackError(RuntimeError):
    """The feedback consumer cannot start (no FEEDBACK_TOPIC, a topic that does not exist)."""


class FeedbackMetrics:
    """The feedback consumer's metrics, in its own registry (`registry` for the server)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.feedback = Counter(
            PREFIX + "feedback",
            "Moderators' decisions matched to a verdict, by the verdict's model version, its "
            "label and the decided label.",
            ["model_version", "predicted_label", "decided_label"],
            registry=r,
        )
        self.rejected = Counter(
            PREFIX + "feedback_rejected",
            "Feedback records skipped, by reason (invalid_json, invalid_record, unknown_id, "
            "unknown_label).",
            ["reason"],
            registry=r,
        )
        self.index_verdicts = Gauge(
            PREFIX + "feedback_index_verdicts", "Verdicts held in the feedback index.", registry=r
        )
        self.index_age = Gauge(
            PREFIX + "feedback_index_age_seconds",
            "Age of the oldest verdict in the feedback index (its reach back in time).",
            registry=r,
        )
        self.caught_up = Gauge(
            PREFIX + "feedback_index_caught_up",
            "1 once the index has read the verdict topic up to where it was at start.",
            registry=r,
        )


#: A decision on a verdict the index does not hold yet waits this long for the verdict to be
#: read (the two topics are read side by side, and a decision can overtake its verdict);
#: FEEDBACK_GRACE_S.
GRACE_S = 30.0
#: At most this many decisions wait; beyond it the oldest is rejected as unknown_id.
MAX_PENDING = 10_000


@dataclass
class FeedbackJoiner:
    """The matching, without the Kafka clients (unit tests feed it records)."""

    index: VerdictIndex
    metrics: FeedbackMetrics
    grace_s: float = GRACE_S
    counted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    #: (give up at, feedback, record) of decisions whose verdict has not been read yet.
    pending: deque[tuple[float, Feedback, Any]] = field(default_factory=deque)

    def verdicts(self, records: Sequence[Any], now: float | None = None) -> None:
        index_verdicts(self.index, records)
        self.metrics.index_verdicts.set(len(self.index))
        oldest = self.index.oldest_s
        if oldest is not None:
            self.metrics.index_age.set(max(0.0, time.time() - oldest))
        self.retry(time.monotonic() if now is None else now)

    def feedback(self, records: Sequence[Any], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for record in records:
            if record.error() is not None:
                continue
            parsed = parse_feedback(record.value())
            if isinstance(parsed, Rejected):
                self._reject(parsed, record)
                continue
            outcome = judge(self.index, parsed)
            if isinstance(outcome, Rejected) and outcome.reason == "unknown_id":
                self._wait(now, parsed, record)
            else:
                self._settle(outcome, record)

    def retry(self, now: float) -> None:
        """Judge the waiting decisions again; reject those that waited GRACE_S."""
        waiting, self.pending = self.pending, deque()
        for give_up_at, feedback, record in waiting:
            outcome = judge(self.index, feedback)
            if (
                isinstance(outcome, Rejected)
                and outcome.reason == "unknown_id"
                and now < give_up_at
            ):
                self.pending.append((give_up_at, feedback, record))
            else:
                self._settle(outcome, record)

    def _wait(self, now: float, feedback: Feedback, record: Any) -> None:
        if len(self.pending) >= MAX_PENDING:
            _, old_feedback, old_record = self.pending.popleft()
            self._settle(judge(self.index, old_feedback), old_record)
        self.pending.append((now + self.grace_s, feedback, record))

    def _settle(self, outcome: Judged | Rejected, record: Any) -> None:
        if isinstance(outcome, Judged):
            verdict = outcome.verdict
            self.metrics.feedback.labels(
                verdict.model_version, verdict.label, outcome.feedback.label
            ).inc()
            self.counted += 1
        else:
            self._reject(outcome, record)

    def _reject(self, outcome: Rejected, record: Any) -> None:
        self.metrics.rejected.labels(outcome.reason).inc()
        self.rejected[outcome.reason] = self.rejected.get(outcome.reason, 0) + 1
        log_skipped(outcome, record)


def index_verdicts(index: VerdictIndex, records: Iterable[Any]) -> None:
    """Index each verdict record: its value, at its timestamp in seconds."""
    for record in records:
        if record.error() is None and record.value() is not None:
            index.add(record.value(), record.timestamp()[1] / 1000)


def log_skipped(outcome: Rejected, record: Any) -> None:
    """The log line of a feedback record that counts for nothing (never its content)."""
    log.warning(
        "feedback record skipped",
        reason=outcome.reason,
        detail=outcome.detail,
        topic=record.topic(),
        partition=record.partition(),
        offset=record.offset(),
    )


def reader(settings: Settings, purpose: str) -> Consumer:
    """A consumer that commits only when told, in the group `<GROUP_ID>.<purpose>`; an offset
    gone by retention resets to the earliest one still there."""
    return Consumer(
        {
            **settings.common_client_config(),
            "group.id": f"{settings.group_id}.{purpose}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def topic_partitions(consumer: Consumer, topic: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise FeedbackError(f"topic {topic} does not exist")
    return sorted(metadata.partitions)


def open_verdicts(settings: Settings, since_s: float, group_suffix: str) -> Consumer:
    """A consumer assigned to every verdict partition from `since_s` (Unix seconds)."""
    consumer = reader(settings, group_suffix)
    topic = settings.output_topic
    partitions = topic_partitions(consumer, topic)
    starts = consumer.offsets_for_times(
        [TopicPartition(topic, p, int(since_s * 1000)) for p in partitions], timeout=10
    )
    # -1: no record that recent yet, so start at the end.
    consumer.assign(
        [
            TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
            for tp in starts
        ]
    )
    return consumer


def at_end(consumer: Consumer) -> bool:
    """Whether every assigned partition has been read up to its high watermark as the last
    fetch response gave it (right on every broker, where ListOffsets is not always)."""
    assigned = consumer.assignment()
    for position in consumer.position(assigned):
        _, high = consumer.get_watermark_offsets(
            TopicPartition(position.topic, position.partition), cached=True
        )
        if high < 0:
            return False  # no fetch response for it yet
        if 0 <= position.offset < high:
            return False
    return True


def run_feedback(
    settings: Settings,
    stop: threading.Event,
    metrics: FeedbackMetrics | None = None,
    health: Health | None = None,
) -> FeedbackJoiner:
    """Index verdicts and count feedback until `stop` is set."""
    topic = settings.feedback_topic
    if not topic:
        raise FeedbackError("FEEDBACK_TOPIC is not set: the topic moderators' decisions go to")
    metrics = metrics or FeedbackMetrics()
    joiner = FeedbackJoiner(
        VerdictIndex(settings.feedback_max_verdicts, settings.feedback_window_s),
        metrics,
        grace_s=settings.feedback_grace_s,
    )
    verdicts = open_verdicts(settings, time.time() - settings.feedback_window_s, "feedback-index")
    feedback = reader(settings, "feedback")
    topic_partitions(feedback, topic)
    ready = False
    health = health or Health()
    health.model_loaded = health.broker_reachable = True
    try:
        while not stop.is_set():
            health.last_turn = time.monotonic()
            batch = verdicts.consume(1000, 0.05 if ready else 0.2)
            joiner.verdicts(batch)
            if not ready:
                if batch or not at_end(verdicts):
                    continue
                ready = True
                metrics.caught_up.set(1)
                feedback.subscribe([topic])
                health.group_joined = True  # ready: feedback is matched from here on
                log.info("feedback index caught up", verdicts=len(joiner.index))
            records = feedback.consume(500, 0.2)
            records = [r for r in records if not _is_eof(r)]
            joiner.feedback(records)
            if records:
                # What was counted is committed: a restart goes on from here (a crash
                # between counting and this commit counts those records again).
                offsets = _next_offsets(records)
                if offsets:
                    feedback.commit(offsets=offsets, asynchronous=False)
    finally:
        verdicts.close()
        feedback.close()
    return joiner


def _next_offsets(records: Sequence[Any]) -> list[TopicPartition]:
    """The offset after the last record of each partition in `records`."""
    last: dict[tuple[str, int], int] = {}
    for record in records:
        if record.error() is None:
            last[(str(record.topic()), int(record.partition() or 0))] = int(record.offset() or 0)
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def _is_eof(record: Any) -> bool:
    error = record.error()
    return error is not None and error.code() == KafkaError._PARTITION_EOF
