"""Moderator feedback (`consumer.quality.feedback`, `consumer.tools.feedback.FeedbackJoiner`):
the verdict index is bounded in count and age, every bad record is counted by reason, and each
decision counts once: a duplicate is skipped, counts wait for the commit, and a new process
replays what was committed before it without counting it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
import pytest
from confluent_kafka import OFFSET_INVALID, KafkaError, TopicPartition

from consumer.quality.feedback import Judged, Rejected, VerdictIndex, judge, parse_feedback
from consumer.tools.feedback import FeedbackJoiner, FeedbackMetrics
from consumer.tools.feedback_topics import (
    CLOCK_SKEW_S,
    FeedbackError,
    Replaying,
    replay,
    replay_ranges,
)
from tests.fakes import FakeMessage

TOTAL = "content_classifier_feedback_total"
REJECTED = "content_classifier_feedback_rejected_total"


def verdict(ident: str, label: str = "malicious", version: str = "0.4.1", **extra: object) -> bytes:
    return orjson.dumps(
        {
            "id": ident,
            "label": label,
            "score": 0.9,
            "scores": {"benign": 0.1, "malicious": 0.9},
            "action": "review",
            "model": {"name": "m", "version": version},
            "source": {"topic": "in", "partition": 2, "offset": 40},
            "classified_at": "2026-12-05T00:00:00Z",
            **extra,
        }
    )


def test_the_index_keeps_the_newest_verdicts_within_its_count_and_window() -> None:
    index = VerdictIndex(max_verdicts=3, window_s=100)
    for i in range(5):
        assert index.add(verdict(f"v{i}"), timestamp_s=1000 + i)
    assert len(index) == 3 and index.evicted == 2
    assert index.get("v0") is None and index.get("v4") is not None
    entry = index.get("v4")
    assert entry is not None
    assert (entry.model_version, entry.label, entry.partition, entry.offset) == (
        "0.4.1",
        "malicious",
        2,
        40,
    )
    assert entry.labels == ("benign", "malicious")
    index.add(verdict("late"), timestamp_s=1200)  # 100 s past v4: the window drops the others
    assert len(index) == 1 and index.oldest_s == 1200
    # Not a verdict, or a shadow's verdict: not indexed.
    assert not index.add(b"{not json", 1200)
    assert not index.add(orjson.dumps({"id": "x"}), 1200)
    assert not index.add(verdict("s", shadow=True), 1200)
    assert len(index) == 1


def test_feedback_is_judged_against_the_index_or_rejected_with_a_reason() -> None:
    index = VerdictIndex(10, 3600)
    index.add(verdict("v1"), 1000)
    ok = parse_feedback(b'{"id": "v1", "label": "benign", "decided_at": "2026-12-05T00:01:00Z"}')
    assert not isinstance(ok, Rejected)
    judged = judge(index, ok)
    assert isinstance(judged, Judged) and judged.verdict.label == "malicious"
    cases = {
        b"{nope": "invalid_json",
        b'["v1"]': "invalid_record",
        b'{"id": "v1"}': "invalid_record",
        b'{"id": "v1", "label": 3}': "invalid_record",
    }
    for raw, reason in cases.items():
        rejected = parse_feedback(raw)
        assert isinstance(rejected, Rejected) and rejected.reason == reason, raw
    unknown = parse_feedback(b'{"id": "v9", "label": "benign"}')
    assert not isinstance(unknown, Rejected)
    assert judge(index, unknown) == Rejected(
        "unknown_id", "no verdict 'v9' in the index (older than its window, or never made)"
    )
    odd = parse_feedback(b'{"id": "v1", "label": "spam"}')
    assert not isinstance(odd, Rejected)
    outcome = judge(index, odd)
    assert isinstance(outcome, Rejected) and outcome.reason == "unknown_label"


def test_the_joiner_counts_decisions_by_version_and_labels_and_skips_bad_records() -> None:
    metrics = FeedbackMetrics()
    joiner = FeedbackJoiner(VerdictIndex(100, 3600), metrics)
    joiner.verdicts(
        [
            FakeMessage(verdict("a", "malicious", "1.0"), _offset=0),
            FakeMessage(verdict("b", "benign", "1.0"), _offset=1),
            FakeMessage(verdict("c", "malicious", "2.0"), _offset=2),
        ]
    )
    feedback = [
        b'{"id": "a", "label": "malicious"}',
        b'{"id": "b", "label": "malicious"}',
        b'{"id": "c", "label": "benign"}',
        b'{"id": "zz", "label": "benign"}',
        b"not json",
    ]
    joiner.feedback([FakeMessage(value, _offset=i) for i, value in enumerate(feedback)], now=0)
    joiner.publish()
    assert joiner.rejected == {"invalid_json": 1}  # "zz" waits for its verdict
    joiner.retry(now=joiner.grace_s + 1)
    joiner.publish()
    value = metrics.registry.get_sample_value
    total = TOTAL
    assert (
        value(
            total,
            {"model_version": "1.0", "predicted_label": "malicious", "decided_label": "malicious"},
        )
        == 1
    )
    assert (
        value(
            total,
            {"model_version": "1.0", "predicted_label": "benign", "decided_label": "malicious"},
        )
        == 1
    )
    assert (
        value(
            total,
            {"model_version": "2.0", "predicted_label": "malicious", "decided_label": "benign"},
        )
        == 1
    )
    assert joiner.counted == 3
    assert joiner.rejected == {"unknown_id": 1, "invalid_json": 1}
    assert value("content_classifier_feedback_rejected_total", {"reason": "unknown_id"}) == 1
    assert value("content_classifier_feedback_index_verdicts") == 3


def test_a_decision_that_overtakes_its_verdict_waits_for_it() -> None:
    joiner = FeedbackJoiner(VerdictIndex(100, 3600), FeedbackMetrics(), grace_s=30)
    joiner.feedback([FakeMessage(b'{"id": "late", "label": "benign"}')], now=100)
    assert joiner.counted == 0 and len(joiner.pending) == 1 and not joiner.rejected
    joiner.verdicts([FakeMessage(verdict("late", "malicious"))], now=110)
    joiner.publish()
    assert joiner.counted == 1 and not joiner.pending
    joiner.feedback([FakeMessage(b'{"id": "never", "label": "benign"}')], now=200)
    joiner.verdicts([], now=229)
    assert len(joiner.pending) == 1
    joiner.verdicts([], now=231)
    joiner.publish()
    assert joiner.rejected == {"unknown_id": 1} and not joiner.pending


def decision(ident: str, label: str, offset: int, partition: int = 0) -> FakeMessage:
    value = orjson.dumps({"id": ident, "label": label})
    return FakeMessage(value, _topic="fb", _partition=partition, _offset=offset)


def test_a_decision_is_its_verdict_and_label_remembered_with_the_verdict() -> None:
    index = VerdictIndex(max_verdicts=2, window_s=100)
    index.add(verdict("v1"), 1000)
    benign = parse_feedback(b'{"id": "v1", "label": "benign"}')
    malicious = parse_feedback(b'{"id": "v1", "label": "malicious"}')
    assert not isinstance(benign, Rejected) and not isinstance(malicious, Rejected)
    assert isinstance(judge(index, benign), Judged)
    index.mark_decided("v1", "benign")
    assert judge(index, benign) == Rejected(
        "duplicate", "verdict 'v1' was already decided 'benign' (counted once)"
    )
    assert isinstance(judge(index, malicious), Judged)  # another decision on it: it counts
    index.mark_decided("v9", "benign")  # no such verdict: nothing to remember
    assert index.get("v9") is None
    # A verdict made again (a redelivery) keeps what was decided on it, and its place.
    index.add(verdict("v1"), 1001)
    assert isinstance(judge(index, benign), Rejected)
    # Evicted, the verdict takes its decisions along: the decision is then an unknown id.
    index.add(verdict("v2"), 1002)
    index.add(verdict("v3"), 1003)
    outcome = judge(index, benign)
    assert isinstance(outcome, Rejected) and outcome.reason == "unknown_id"
    # Decided label tuples are interned: one object for every verdict decided alike.
    index.mark_decided("v2", "benign")
    index.mark_decided("v3", "benign")
    two, three = index.get("v2"), index.get("v3")
    assert two is not None and three is not None and two.decided is three.decided


def test_a_decision_sent_twice_counts_once_and_the_second_is_a_duplicate() -> None:
    metrics = FeedbackMetrics()
    joiner = FeedbackJoiner(VerdictIndex(100, 3600), metrics, grace_s=30)
    joiner.verdicts([FakeMessage(verdict("a", "malicious"))], now=0)
    batch = [decision("a", "benign", 0), decision("a", "benign", 1), decision("b", "benign", 2)]
    batch.append(decision("b", "benign", 3))  # on a verdict not read yet: both wait
    batch.append(decision("a", "malicious", 4))  # a second opinion: it counts
    joiner.feedback(batch, now=0)
    assert len(joiner.pending) == 2
    joiner.verdicts([FakeMessage(verdict("b", "malicious"))], now=1)
    joiner.feedback([decision("a", "benign", 5)], now=2)  # a later batch
    joiner.publish()
    value = metrics.registry.get_sample_value
    labels = {"model_version": "0.4.1", "predicted_label": "malicious"}
    assert value(TOTAL, {**labels, "decided_label": "benign"}) == 2  # a and b, once each
    assert value(TOTAL, {**labels, "decided_label": "malicious"}) == 1
    assert joiner.counted == 3 and not joiner.pending
    assert joiner.rejected == {"duplicate": 3}
    assert value(REJECTED, {"reason": "duplicate"}) == 3


def test_counts_reach_the_metrics_only_when_published() -> None:
    metrics = FeedbackMetrics()
    joiner = FeedbackJoiner(VerdictIndex(100, 3600), metrics)
    joiner.verdicts([FakeMessage(verdict("a"))], now=0)
    joiner.feedback([decision("a", "benign", 0), FakeMessage(b"{nope", _offset=1)], now=0)
    value = metrics.registry.get_sample_value
    labels = {"model_version": "0.4.1", "predicted_label": "malicious", "decided_label": "benign"}
    # Not yet committed: a crash now must leave nothing counted (the next run counts it).
    assert value(TOTAL, labels) is None and value(REJECTED, {"reason": "invalid_json"}) is None
    assert joiner.counted == 0 and not joiner.rejected
    joiner.publish()
    assert value(TOTAL, labels) == 1 and value(REJECTED, {"reason": "invalid_json"}) == 1
    joiner.publish()  # published once
    assert value(TOTAL, labels) == 1 and joiner.counted == 1


def test_a_replayed_decision_is_remembered_not_counted() -> None:
    metrics = FeedbackMetrics()
    joiner = FeedbackJoiner(VerdictIndex(100, 3600), metrics)
    joiner.verdicts([FakeMessage(verdict(i)) for i in ("a", "b")], now=0)
    # What an earlier run counted: remembered; a bad record or an unknown verdict, nothing.
    for record in [decision("a", "benign", 0), FakeMessage(b"{nope"), decision("zz", "x", 2)]:
        joiner.remember(record)
    joiner.publish()
    assert joiner.counted == 0 and not joiner.rejected and not joiner.pending
    joiner.feedback([decision("a", "benign", 3), decision("b", "benign", 4)], now=0)
    joiner.publish()
    assert joiner.counted == 1 and joiner.rejected == {"duplicate": 1}


@dataclass
class GroupConsumer:
    """The group consumer in its `on_assign`: committed offsets and offsets by time."""

    committed_at: dict[int, int]
    first_since: dict[int, int]
    since_ms: list[int] = field(default_factory=list)

    def committed(
        self, partitions: Sequence[TopicPartition], timeout: float
    ) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.committed_at[tp.partition])
            for tp in partitions
        ]

    def offsets_for_times(
        self, partitions: Sequence[TopicPartition], timeout: float
    ) -> list[TopicPartition]:
        self.since_ms.extend(tp.offset for tp in partitions)
        return [
            TopicPartition(tp.topic, tp.partition, self.first_since[tp.partition])
            for tp in reversed(partitions)  # matched by partition, not by position
        ]


@dataclass
class ReplayConsumer:
    """An assign-only consumer that reports partition ends: `batches` in turn, then nothing."""

    batches: list[list[FakeMessage]]
    assigned: list[tuple[int, int]] = field(default_factory=list)
    closed: bool = False

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        self.assigned = [(tp.partition, tp.offset) for tp in partitions]

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        return self.batches.pop(0) if self.batches else []

    def close(self) -> None:
        self.closed = True


def end_of(partition: int) -> FakeMessage:
    eof = KafkaError(KafkaError._PARTITION_EOF)
    return FakeMessage(None, _topic="fb", _partition=partition, _error=eof)


def test_what_is_replayed_runs_from_the_window_to_the_committed_offset() -> None:
    # 0: committed at 50, the window starts at 20; 1: never committed; 2: nothing in the
    # window (-1); 3: the window starts after the commit (nothing counted in it yet).
    consumer = GroupConsumer({0: 50, 1: OFFSET_INVALID, 2: 7, 3: 5}, {0: 20, 1: 3, 2: -1, 3: 9})
    partitions = [TopicPartition("fb", p) for p in range(4)]
    ranges = replay_ranges(consumer, partitions, since_s=1_000.5)
    assert consumer.since_ms == [1_000_500] * 4
    assert [(tp.topic, tp.partition, tp.offset, end) for tp, end in ranges] == [("fb", 0, 20, 50)]


def test_a_replay_reads_each_range_up_to_its_end_or_the_partitions_end() -> None:
    consumer = ReplayConsumer(
        [
            [decision("a", "benign", 20), decision("x", "benign", 5, partition=7)],
            [decision("b", "benign", 3, partition=1), end_of(1), decision("c", "benign", 21)],
            [decision("counted-now", "benign", 22), end_of(0)],
        ]
    )
    seen: list[tuple[int, int]] = []
    ranges = [(TopicPartition("fb", 0, 20), 22), (TopicPartition("fb", 1, 3), 9)]
    read = replay(consumer, ranges, lambda r: seen.append((r.partition(), r.offset())))
    assert consumer.assigned == [(0, 20), (1, 3)]
    # Partition 1 ends before its committed offset (a record deleted, a transaction marker);
    # partition 0 ends at its committed offset: offset 22 is the next run's to count.
    assert seen == [(0, 20), (1, 3), (0, 21)] and read == 3
    assert consumer.batches == [[decision("counted-now", "benign", 22), end_of(0)]]
    with pytest.raises(FeedbackError, match="read nothing"):
        replay(ReplayConsumer([]), ranges, seen.append, stall_s=0)


def test_on_assign_replays_from_before_the_oldest_verdict_what_the_group_committed() -> None:
    joiner = FeedbackJoiner(VerdictIndex(100, 3600), FeedbackMetrics(), grace_s=30)
    joiner.verdicts([FakeMessage(verdict("a"), _timestamp=(1, 1_700_000_000_000))], now=0)
    opened: list[ReplayConsumer] = []

    def open_reader() -> ReplayConsumer:
        opened.append(ReplayConsumer([[decision("a", "benign", 0), end_of(0)]]))
        return opened[-1]

    on_assign = Replaying(joiner, open_reader)
    group = GroupConsumer({0: 1}, {0: 0})
    on_assign(group, [TopicPartition("fb", 0)])
    assert on_assign.failure is None
    assert group.since_ms == [int((1_700_000_000 - 30 - CLOCK_SKEW_S) * 1000)]
    assert len(opened) == 1 and opened[0].closed and opened[0].assigned == [(0, 0)]
    joiner.feedback([decision("a", "benign", 1)], now=0)
    joiner.publish()
    assert joiner.counted == 0 and joiner.rejected == {"duplicate": 1}
    # Nothing committed before: no replay, no consumer for it.
    on_assign(GroupConsumer({0: OFFSET_INVALID}, {0: 0}), [TopicPartition("fb", 0)])
    assert len(opened) == 1
    # A failure is kept for the loop to raise (out of the callback, it would be garbled).
    on_assign(object(), [TopicPartition("fb", 0)])
    assert isinstance(on_assign.failure, AttributeError)


def test_a_decision_may_name_a_category_of_the_verdicts_model_and_is_counted_by_it() -> None:
    kinds = {"harmful_request": 0.1, "hate_harassment": 0.7, "prompt_injection": 0.1}
    metrics = FeedbackMetrics()
    joiner = FeedbackJoiner(VerdictIndex(100, 3600), metrics)
    joiner.verdicts(
        [
            FakeMessage(verdict("a", categories=kinds, category="hate_harassment"), _offset=0),
            FakeMessage(verdict("b", "benign", categories=kinds, category=None), _offset=1),
            FakeMessage(verdict("old"), _offset=2),  # a model without categories
        ]
    )
    feedback = [
        b'{"id": "a", "label": "malicious", "category": "prompt_injection"}',
        b'{"id": "b", "label": "malicious", "category": "harmful_request"}',
        b'{"id": "a", "label": "benign", "category": "spam"}',
        b'{"id": "old", "label": "malicious", "category": "harmful_request"}',
        b'{"id": "old", "label": "benign"}',
    ]
    joiner.feedback([FakeMessage(value, _offset=i) for i, value in enumerate(feedback)], now=0)
    joiner.publish()
    value = metrics.registry.get_sample_value
    by_category = "content_classifier_feedback_categories_total"
    labels = {"model_version": "0.4.1", "decided_category": "prompt_injection"}
    assert value(by_category, {**labels, "predicted_category": "hate_harassment"}) == 1
    labels = {"model_version": "0.4.1", "decided_category": "harmful_request"}
    assert value(by_category, {**labels, "predicted_category": "none"}) == 1
    assert joiner.counted == 3
    assert joiner.rejected == {"unknown_category": 2}
    assert value(REJECTED, {"reason": "unknown_category"}) == 2
