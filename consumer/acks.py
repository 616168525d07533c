"""Per-partition tracking of acknowledged outputs: which input offset may be committed.

Outputs are produced in input order per partition, but their acknowledgements arrive in any
order (verdicts of one input partition go to several output partitions). A partition may be
committed up to its highest *contiguous* acknowledged input record: the first record whose
output is still in flight, or failed, holds the commit back. This is what lets the worker
produce the next batch while the previous batch's deliveries are still being acknowledged,
instead of waiting for every acknowledgement after each batch.
"""

from __future__ import annotations

from collections import deque

__all__ = ["ACKED", "FAILED", "PENDING", "AckTracker", "Slot", "Track"]

TopicPartitionKey = tuple[str, int]

PENDING = 0
ACKED = 1
FAILED = 2


class Track:
    """One partition's outputs in flight, oldest first."""

    __slots__ = ("first_failed", "key", "slots", "unsettled")

    def __init__(self, key: TopicPartitionKey) -> None:
        self.key = key
        self.slots: deque[Slot] = deque()
        #: Slots neither acknowledged nor failed yet.
        self.unsettled = 0
        #: The lowest input offset whose output failed (the partition is rewound there).
        self.first_failed: int | None = None


class Slot:
    """The output of one input record; its delivery report settles it."""

    __slots__ = ("offset", "state", "track")

    def __init__(self, track: Track, offset: int) -> None:
        self.track = track
        self.offset = offset
        self.state = PENDING

    def ack(self) -> None:
        if self.state == PENDING:
            self.state = ACKED
            self.track.unsettled -= 1

    def fail(self) -> None:
        if self.state == PENDING:
            self.state = FAILED
            track = self.track
            track.unsettled -= 1
            if track.first_failed is None or self.offset < track.first_failed:
                track.first_failed = self.offset


class AckTracker:
    """The tracks of the partitions this worker owns."""

    def __init__(self) -> None:
        self._tracks: dict[TopicPartitionKey, Track] = {}

    def slot(self, key: TopicPartitionKey, offset: int) -> Slot:
        """Register the output of input record `offset` (called in input order)."""
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = Track(key)
        slot = Slot(track, offset)
        track.slots.append(slot)
        track.unsettled += 1
        return slot

    def current(self, slot: Slot) -> bool:
        """False for a slot of a partition forgotten (revoked, lost, rewound) since."""
        return self._tracks.get(slot.track.key) is slot.track

    def advance(self, key: TopicPartitionKey) -> int | None:
        """Drop the acknowledged slots at the front; the offset to commit now (the record
        after the last of them), or None when the front has not moved."""
        track = self._tracks.get(key)
        if track is None:
            return None
        slots = track.slots
        position = None
        while slots and slots[0].state == ACKED:
            position = slots.popleft().offset + 1
        return position

    def tracks(self) -> list[Track]:
        return list(self._tracks.values())

    def unsettled(self, key: TopicPartitionKey) -> int:
        track = self._tracks.get(key)
        return 0 if track is None else track.unsettled

    def fail_pending(self) -> None:
        """Count every output still in flight as failed (its producer is gone)."""
        for track in self._tracks.values():
            for slot in track.slots:
                slot.fail()

    def forget(self, key: TopicPartitionKey) -> None:
        """Stop tracking a partition: later reports of its old slots change nothing."""
        self._tracks.pop(key, None)

    def __len__(self) -> int:
        """Outputs in flight over every partition."""
        return sum(track.unsettled for track in self._tracks.values())
