"""Moderator feedback matched to the verdicts it judges, in bounded memory, each decision
counted once.

The verdicts are indexed by id as they are read from the verdict topic: for each, the model
version, the predicted label, the labels it scored, its input's position, and the labels
already decided on it. The index holds at most `max_verdicts` entries and none older than
`window_s` seconds before the newest one (oldest evicted first), about 250 bytes a verdict in
CPython: a million verdicts, a day of a busy deployment's `review` verdicts, is about 250 MB.
A feedback record is judged against it: the moderator's label becomes a count by (model
version, predicted label, decided label), and a decided kind of harm (`category`) a count by
(model version, predicted category, decided category); a record that is not JSON, breaks the
feedback contract, names an id the index does not hold (older than the window, or never a
verdict), a label or a category the verdict's model does not have, or repeats a decision
already counted, is rejected with its reason.

A decision is identified by (verdict id, decided label). The feedback contract gives a
decision no id of its own. Its record's position (topic, partition, offset) would find a record
read twice, but not a decision a moderation tool sent twice (its retry lands at another
offset); the pair finds both, and for precision and recall a verdict confirmed twice with the
same label is one observation, not two. A different label on the same verdict (a correction, a
second moderator who disagrees) is another decision and counts. The decided labels live in the
verdict's index entry (an interned tuple, 8 bytes more a verdict), so they are bounded by the
index (`max_verdicts`, `window_s`) and leave with their verdict; a decision on a verdict that
has left is `unknown_id`, never counted twice. Only a verdict indexed again after it left (its
input classified again later than the window) forgets what was decided on it.
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
    #: The decided labels already counted on this verdict (each decision counts once).
    decided: tuple[str, ...] = ()
    #: The kind of harm that decided the verdict (None: benign, or a model without them).
    category: str | None = None
    #: The kinds of harm its model knows (empty: none).
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Judged:
    """A feedback record matched to its verdict."""

    feedback: Feedback
    verdict: IndexedVerdict


@dataclass(frozen=True, slots=True)
class Rejected:
    """A feedback record that counts for nothing: `reason` is a metric label, `detail` is
    for the log line (it never holds the content)."""

    #: invalid_json, invalid_record, unknown_id, unknown_label, unknown_category, duplicate
    reason: str
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
                (),
                self._intern(verdict.get("category")),
                self._intern(tuple(str(k) for k in verdict.get("categories") or ())),
            )
            ident = str(verdict["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return False
        by_id = self._by_id
        known = by_id.pop(ident, None)
        if known is not None:
            # A verdict made again (a redelivery) is the newest, and keeps its decisions.
            entry = entry._replace(decided=known.decided)
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

    def mark_decided(self, ident: str, label: str) -> None:
        """Remember that the decision `label` on verdict `ident` was counted (judge() rejects
        it as a duplicate from now on); nothing when the index does not hold the verdict."""
        entry = self._by_id.get(ident)
        if entry is not None and label not in entry.decided:
            # Assigning an existing key keeps the verdict's place in the eviction order.
            self._by_id[ident] = entry._replace(decided=self._intern((*entry.decided, label)))

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
    if feedback.category is not None and feedback.category not in verdict.categories:
        return Rejected(
            "unknown_category",
            f"category {feedback.category!r} is not one of model {verdict.model_version}'s "
            f"{list(verdict.categories)}",
        )
    if feedback.label in verdict.decided:
        return Rejected(
            "duplicate",
            f"verdict {feedback.id!r} was already decided {feedback.label!r} (counted once)",
        )
    return Judged(feedback, verdict)
