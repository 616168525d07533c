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
FEEDBACK_TOPIC as the consumer group `<GROUP_ID>.feedback`. Feedback is taken only once the
index has read the verdict topic to its end, so a restart does not reject feedback whose
verdicts it has not read yet; after that, a decision that overtakes its verdict (the topics are
read side by side) waits up to GRACE_S for it. Metrics on METRICS_PORT:
`content_classifier_feedback_total{model_version, predicted_label, decided_label}` (live
precision and recall are ratios of it), `..._feedback_categories_total` by model version,
predicted and decided category for decisions that name a kind of harm,
`..._feedback_rejected_total{reason}`, and the index's size and age.

Each decision counts once (`consumer.quality.feedback`: a decision is its verdict's id and the
decided label, remembered with the verdict in the index), also across a crash:

- Commit, then publish. A batch's counts reach the metrics only after its offsets are
  committed, so no count Prometheus can have scraped belongs to a record the group will read
  again: a crash before the commit leaves the batch unpublished, and the next run counts it.
- Replay on assignment. A new process knows nothing of what was decided before it, so before
  it counts anything of the partitions it is assigned, it reads each of them with a consumer
  of its own from where its decisions could still be on verdicts of the index (the oldest
  indexed verdict's time, less GRACE_S and CLOCK_SKEW_S) up to the group's committed offset,
  and remembers those decisions without counting them; counting then starts at the committed
  offset. A decision sent again later (a moderation tool's retry), on any partition, is then a
  `duplicate`.

What a crash can still do: lose counts, never double them. The decisions waiting for their
verdict (at most MAX_PENDING, for at most GRACE_S) are committed before they are counted and are
lost; so is a batch whose commit succeeded when the process died before publishing it (or when
the commit's answer was lost: the process stops, and the next run starts after it). Counters
start at zero in a new process (Prometheus' rate() and increase() take that as a reset), and
what was counted since the last scrape is never scraped. Duplicates are found per process: with
several replicas, a decision sent twice to partitions that different replicas own counts twice
(a tool that keys decisions by verdict id sends both to one partition). A decision whose
timestamp is earlier than its verdict's by more than GRACE_S + CLOCK_SKEW_S is not replayed,
and a verdict indexed again after it left the index (its input classified again after the
window) forgets its decisions.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.contracts.messages import Feedback
from consumer.quality.feedback import Judged, Rejected, VerdictIndex, judge, parse_feedback
from consumer.stream.health import Health
from consumer.tools.feedback_topics import (
    FeedbackError,
    Replaying,
    at_end,
    is_eof,
    open_verdicts,
    reader,
    topic_partitions,
)

__all__ = [
    "FeedbackJoiner",
    "FeedbackMetrics",
    "index_verdicts",
    "log_skipped",
    "run_feedback",
]

log = get_logger(__name__)

PREFIX = "content_classifier_"


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
        self.categories = Counter(
            PREFIX + "feedback_categories",
            "Moderators' decisions that name a kind of harm, by the verdict's model version, "
            "its category (none: it named none) and the decided category.",
            ["model_version", "predicted_category", "decided_category"],
            registry=r,
        )
        self.rejected = Counter(
            PREFIX + "feedback_rejected",
            "Feedback records skipped, by reason (invalid_json, invalid_record, unknown_id, "
            "unknown_label, unknown_category, duplicate).",
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
_Outcome = tuple[Judged | Rejected, Any]


@dataclass
class FeedbackJoiner:
    """The matching, without the Kafka clients (unit tests feed it records). Outcomes wait in
    `unpublished` until `publish()`, which the loop calls once their records are committed."""

    index: VerdictIndex
    metrics: FeedbackMetrics
    grace_s: float = GRACE_S
    counted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    #: (give up at, feedback, record) of decisions whose verdict has not been read yet.
    pending: deque[tuple[float, Feedback, Any]] = field(default_factory=deque)
    unpublished: list[_Outcome] = field(default_factory=list)

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
                self._settle(parsed, record)
                continue
            outcome = judge(self.index, parsed)
            if isinstance(outcome, Rejected) and outcome.reason == "unknown_id":
                self._wait(now, parsed, record)
            else:
                self._settle(outcome, record)

    def remember(self, record: Any) -> None:
        """A record an earlier run counted: its decision is remembered, never counted."""
        parsed = parse_feedback(record.value())
        if not isinstance(parsed, Rejected):
            self._remember(judge(self.index, parsed))

    def publish(self) -> None:
        """Count the settled outcomes in the metrics (their records are committed)."""
        for outcome, record in self.unpublished:
            if isinstance(outcome, Judged):
                verdict = outcome.verdict
                self.metrics.feedback.labels(
                    verdict.model_version, verdict.label, outcome.feedback.label
                ).inc()
                decided = outcome.feedback.category
                if decided is not None:
                    self.metrics.categories.labels(
                        verdict.model_version, verdict.category or "none", decided
                    ).inc()
                self.counted += 1
            else:
                self.metrics.rejected.labels(outcome.reason).inc()
                self.rejected[outcome.reason] = self.rejected.get(outcome.reason, 0) + 1
                log_skipped(outcome, record)
        self.unpublished.clear()

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
        # Remembered at once, so that a duplicate in the same batch is one.
        self._remember(outcome)
        self.unpublished.append((outcome, record))

    def _remember(self, outcome: Judged | Rejected) -> None:
        if isinstance(outcome, Judged):
            self.index.mark_decided(outcome.feedback.id, outcome.feedback.label)


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
    on_assign = Replaying(joiner, lambda: reader(settings, "feedback-replay", eof=True))
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
                feedback.subscribe([topic], on_assign=on_assign)
                health.group_joined = True  # ready: feedback is matched from here on
                log.info("feedback index caught up", verdicts=len(joiner.index))
            records = feedback.consume(500, 0.2)
            if on_assign.failure is not None:
                raise on_assign.failure  # before any record of those partitions is counted
            records = [r for r in records if not is_eof(r)]
            joiner.feedback(records)
            offsets = _next_offsets(records)
            if offsets:
                # Committed before it is published: a crash in between loses this batch's
                # counts, while publishing first could count it again in the next run.
                feedback.commit(offsets=offsets, asynchronous=False)
            joiner.publish()
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
