"""Per-partition tracking of acknowledged outputs: which input offset may be committed.

The worker produces the next batch while the broker still acknowledges the previous one, so
a partition may be committed only up to its highest record whose output, and every output
before it, is acknowledged. Acknowledgements are counted per batch, not per record: all of a
batch's verdicts share one delivery callback (`Batch.report`, a bound method made once per
batch), and a success only takes one off the batch's count. That keeps the per-record cost of
a delivery report to one Python call, where a slot object and a callback per record cost as
much again as producing the record. A failure is rare and carries its message, which names
the output (and through it the input record) that failed.

Each partition holds its *parts* of the batches in flight (its first and last input offset in
each), oldest first. Once a batch is settled (every output acknowledged or failed), its parts
are finished up to the partition's first record whose output failed, if any: a partition is
committed up to the end of its oldest settled parts and never past a failed record, where it
is rewound instead.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

__all__ = ["AckTracker", "Batch", "Part", "Track"]

TopicPartitionKey = tuple[str, int]


class Batch:
    """The outputs of one micro-batch in flight: settled when `pending` reaches zero."""

    __slots__ = ("abandoned", "errors", "kinds", "pending", "verdicts")

    def __init__(self, errors: list[tuple[Batch, Any, Any]]) -> None:
        #: Outputs produced and not yet acknowledged or failed.
        self.pending = 0
        #: The tracker's list of failed delivery reports (shared by every batch).
        self.errors = errors
        #: Acknowledged outputs by kind once settled: ("verdict", label) or
        #: ("dead_letter", stage) -> count (failures are taken off).
        self.kinds: Counter[tuple[str, str]] = Counter()
        #: The verdicts produced: (input record, key, value, label, headers), to find a
        #: failed one.
        self.verdicts: list[tuple[Any, bytes, bytes, str, Any]] = []
        #: Its producer was replaced: its reports no longer count.
        self.abandoned = False

    def report(self, error: Any, message: Any) -> None:
        """The delivery callback of every verdict in the batch (served on the worker's thread
        by `producer.poll`): a success is one decrement."""
        if error is None:
            self.pending -= 1
        else:
            self.errors.append((self, error, message))

    @property
    def settled(self) -> bool:
        return self.pending <= 0

    def verdict_of(self, value: bytes | None) -> tuple[Any, bytes, bytes, str, Any] | None:
        """The verdict whose value is `value` (values are unique: each names its input)."""
        if value is None:
            return None
        for produced in self.verdicts:
            if produced[2] == value:
                return produced
        return None


class Part:
    """One partition's input records in one batch: offsets `first`..`last`."""

    __slots__ = ("batch", "first", "last")

    def __init__(self, batch: Batch, first: int, last: int) -> None:
        self.batch = batch
        self.first = first
        self.last = last


class Track:
    """One partition's parts in flight, oldest first."""

    __slots__ = ("first_failed", "key", "parts")

    def __init__(self, key: TopicPartitionKey) -> None:
        self.key = key
        self.parts: deque[Part] = deque()
        #: The lowest input offset whose output failed (the partition is rewound there).
        self.first_failed: int | None = None

    @property
    def unsettled(self) -> int:
        """Parts whose batch still has outputs in flight."""
        return sum(1 for part in self.parts if part.batch.pending > 0)


class AckTracker:
    """The batches in flight and the tracks of the partitions this worker owns."""

    def __init__(self) -> None:
        self._tracks: dict[TopicPartitionKey, Track] = {}
        self._batches: list[Batch] = []
        #: Failed delivery reports of verdicts, (batch, error, message), to be served.
        self.errors: list[tuple[Batch, Any, Any]] = []

    def begin(self) -> Batch:
        batch = Batch(self.errors)
        self._batches.append(batch)
        return batch

    def add_part(self, batch: Batch, key: TopicPartitionKey, first: int, last: int) -> None:
        """Register a partition's records `first`..`last` of `batch` (in input order)."""
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = Track(key)
        track.parts.append(Part(batch, first, last))

    def fail(self, key: TopicPartitionKey, offset: int) -> None:
        """The output of input record `offset` failed: the partition stops there."""
        track = self._tracks.get(key)
        if track is not None and (track.first_failed is None or offset < track.first_failed):
            track.first_failed = offset

    def advance(self, key: TopicPartitionKey) -> int | None:
        """Drop the settled parts at the front; the offset to commit now (the record after the
        last of them, or the first failed record), or None when the front has not moved."""
        track = self._tracks.get(key)
        if track is None:
            return None
        parts, failed = track.parts, track.first_failed
        position = None
        while parts and parts[0].batch.pending <= 0:
            part = parts[0]
            if failed is not None and failed <= part.last:
                # Every record of the part before the failed one was acknowledged.
                return failed if failed > part.first else position
            position = part.last + 1
            parts.popleft()
        return position

    def settled_batches(self) -> list[Batch]:
        """Take out the batches settled since the last call (abandoned ones included)."""
        batches = self._batches
        if not batches:
            return []
        done = [batch for batch in batches if batch.pending <= 0]
        self._batches = [batch for batch in batches if batch.pending > 0]
        return done

    def tracks(self) -> list[Track]:
        return list(self._tracks.values())

    def unsettled(self, key: TopicPartitionKey) -> int:
        track = self._tracks.get(key)
        return 0 if track is None else track.unsettled

    def fail_batch(self, batch: Batch) -> None:
        """Count every record of `batch` as failed: each of its partitions is rewound to its
        first record in it (for a failure that cannot be traced to one record)."""
        for track in self._tracks.values():
            for part in track.parts:
                if part.batch is batch:
                    self.fail(track.key, part.first)

    def fail_pending(self) -> None:
        """Count every batch still in flight as failed (its producer is gone)."""
        for batch in self._batches:
            if batch.pending > 0:
                self.fail_batch(batch)
                batch.pending = 0
                batch.abandoned = True

    def forget(self, key: TopicPartitionKey) -> None:
        """Stop tracking a partition: later reports of its old outputs change nothing."""
        self._tracks.pop(key, None)

    def __len__(self) -> int:
        """Outputs in flight over every batch."""
        return sum(batch.pending for batch in self._batches if batch.pending > 0)
