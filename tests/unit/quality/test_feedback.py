"""Moderator feedback (`consumer.quality.feedback`, `consumer.tools.feedback.FeedbackJoiner`):
the verdict index is bounded in count and age, and every bad record is counted by reason."""

from __future__ import annotations

import orjson

from consumer.quality.feedback import Judged, Rejected, VerdictIndex, judge, parse_feedback
from consumer.tools.feedback import FeedbackJoiner, FeedbackMetrics
from tests.fakes import FakeMessage


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
    assert joiner.rejected == {"invalid_json": 1}  # "zz" waits for its verdict
    joiner.retry(now=joiner.grace_s + 1)
    value = metrics.registry.get_sample_value
    total = "content_classifier_feedback_total"
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
    assert joiner.counted == 1 and not joiner.pending
    joiner.feedback([FakeMessage(b'{"id": "never", "label": "benign"}')], now=200)
    joiner.verdicts([], now=229)
    assert len(joiner.pending) == 1
    joiner.verdicts([], now=231)
    assert joiner.rejected == {"unknown_id": 1} and not joiner.pending
