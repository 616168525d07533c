"""Moderator feedback matched to the verdicts it judges, in bounded memory.

The verdicts are indexed by id as they are read from the verdict topic: for each, the model
version, the predicted label, the labels it scored, and its input's position. The index holds
at most `max_verdicts` entries and none older than `window_s` seconds before the newest one
(oldest evicted first), about 250 bytes a verdict in CPython: a million verdicts, a day of a
busy deployment's `review` verdicts, is about 250 MB. A feedback record is judged against it:
the moderator's label becomes a count by (model version, predicted label, decided label);
a record that is not JSON, breaks the feedback contract, names an id the index does not hold
(older than the window, or never a verdict) or a label the verdict's model does not have is
rejected with its reason.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from consumer.contracts.messages import Feedback

__all__ = [
    "IndexedVerdict",
    "Judged",
    "Rejected",
    "VerdictIndex",
    "judge",
    "parse_feedback",
]


class IndexedVerdict(NamedTuple):
    model_version: str
    label: str
    labels: tuple[str, ...]
    topic: str
    partition: int
    offset: int
    timestamp_s: float


@dataclass(frozen=True, slots=True)
class Judged:
    """A feedback record matched to its verdict."""

    feedback: Feedback
    verdict: IndexedVerdict


@dataclass(frozen=True, slots=True)
class Rejected:
    """A feedback record that counts for nothing: `reason` is a metric label, `detail` is
    for the log line (it never holds the content)."""

    reason: str  # invalid_json, invalid_record, unknown_id, unknown_label
    detail: str


class VerdictIndex:
    """Recent verdicts by id, bounded in count and in age."""

    def __init__(self, max_verdicts: int, window_s: float) -> None:
        self.max_verdicts = max_verdicts
        self.window_s = window_s
        self._by_id: OrderedDict[str, IndexedVerdict] = OrderedDict()
        self._strings: dict[Any, Any] = {}  # interned versions, labels and label tuples
        self.newest_s = 0.0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def _intern(self, value: Any) -> Any:
        return self._strings.setdefault(value, value)

    def add(self, value: bytes, timestamp_s: float) -> bool:
        """Index one verdict record's value; False when it is not a verdict (or a shadow's)."""
        try:
            verdict = orjson.loads(value)
            if verdict.get("shadow"):
                return False
            source = verdict["source"]
            entry = IndexedVerdict(
                self._intern(str(verdict["model"]["version"])),
                self._intern(str(verdict["label"])),
                self._intern(tuple(str(k) for k in verdict["scores"])),
                self._intern(str(source["topic"])),
                int(source["partition"]),
                int(source["offset"]),
                timestamp_s,
            )
            ident = str(verdict["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return False
        by_id = self._by_id
        if ident in by_id:
            del by_id[ident]  # a verdict made again (a redelivery) is the newest
        by_id[ident] = entry
        self.newest_s = max(self.newest_s, timestamp_s)
        self._evict()
        return True

    def _evict(self) -> None:
        by_id = self._by_id
        horizon = self.newest_s - self.window_s
        while by_id:
            oldest = next(iter(by_id.values()))
            if len(by_id) <= self.max_verdicts and oldest.timestamp_s >= horizon:
                break
            by_id.popitem(last=False)
            self.evicted += 1

    def get(self, ident: str) -> IndexedVerdict | None:
        return self._by_id.get(ident)

    @property
    def oldest_s(self) -> float | None:
        return next(iter(self._by_id.values())).timestamp_s if self._by_id else None


def parse_feedback(value: bytes | None) -> Feedback | Rejected:
    if value is None:
        return Rejected("invalid_json", "the value is null")
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Rejected("invalid_json", str(exc))
    try:
        return Feedback.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(
            ".".join(str(p) for p in error["loc"]) or "value"
            for error in exc.errors(include_url=False, include_input=False)
        )
        return Rejected("invalid_record", f"breaks the feedback contract at {fields}")


def judge(index: VerdictIndex, feedback: Feedback) -> Judged | Rejected:
    verdict = index.get(feedback.id)
    if verdict is None:
        return Rejected(
            "unknown_id",
            f"no verdict {feedback.id!r} in the index (older than its window, or never made)",
        )
    if feedback.label not in verdict.labels:
        return Rejected(
            "unknown_label",
            f"label {feedback.label!r} is not one of model {verdict.model_version}'s "
            f"{list(verdict.labels)}",
        )
    return Judged(feedback, verdict)
