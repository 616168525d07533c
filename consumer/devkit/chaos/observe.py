"""What a run records besides the outputs: a timeline of events, and a probe of the group
(its committed offsets, what the broker says about it, what each member's `/metrics` says)."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from consumer.devkit.chaos.traffic import QUIET

__all__ = ["GroupProbe", "Timeline", "describe_group", "member_view"]


class Timeline:
    """What happened, one JSON object a line, with wall-clock and run-relative times."""

    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] = path.open("wb")
        self._lock = threading.Lock()
        self.started = time.time()

    def add(self, event: str, **fields: Any) -> dict[str, Any]:
        now = time.time()
        row = {"t": round(now, 3), "rel_s": round(now - self.started, 2), "event": event, **fields}
        with self._lock:
            self._file.write(orjson.dumps(row, default=str) + b"\n")
            self._file.flush()
        return row

    def close(self) -> None:
        with self._lock:
            self._file.close()


def member_view(port: int) -> dict[str, Any]:
    """What a member's `/metrics` says about its partitions and its loop."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    view: dict[str, Any] = {"lag": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "content_classifier_assigned_partitions":
                view["assigned"] = int(sample.value)
            elif sample.name == "content_classifier_consumer_lag":
                view["lag"] += sample.value
    return view


def describe_group(admin: AdminClient, group: str) -> dict[str, Any]:
    """The broker's DescribeGroups answer for `group`, or the error it gave."""
    try:
        described = admin.describe_consumer_groups([group], request_timeout=5)[group].result()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "state": str(described.state),
        "assignor": described.partition_assignor,
        "members": [
            {
                "member_id": m.member_id,
                "client_id": m.client_id,
                "host": m.host,
                "partitions": sorted(
                    tp.partition for tp in (m.assignment.topic_partitions if m.assignment else [])
                ),
            }
            for m in described.members
        ],
    }


class GroupProbe(threading.Thread):
    """Every second: the group's committed offsets; every few seconds: what the broker says
    about the group (DescribeGroups) and what each member's `/metrics` says."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topic: str,
        partitions: int,
        timeline: Timeline,
        ports: Callable[[], dict[str, int]],
        every_s: float = 1.0,
        describe_every: int = 3,
    ) -> None:
        super().__init__(name="chaos-probe", daemon=True)
        self.admin = AdminClient({"bootstrap.servers": bootstrap, "logger": QUIET})  # type: ignore[dict-item]
        self._offsets = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "logger": QUIET,
            }
        )
        self.group, self.topic, self.partitions = group, topic, partitions
        self.timeline, self._ports = timeline, ports
        self.every_s, self.describe_every = every_s, describe_every
        self.committed: dict[int, int] = {}
        self._halt = threading.Event()

    def committed_offsets(self) -> dict[int, int]:
        wanted = [KafkaTopicPartition(self.topic, p) for p in range(self.partitions)]
        return {tp.partition: tp.offset for tp in self._offsets.committed(wanted, timeout=5)}

    def snapshot(self, event: str = "group") -> None:
        members = {}
        for label, port in self._ports().items():
            try:
                members[label] = member_view(port)
            except OSError as exc:
                members[label] = {"error": str(exc)}
        self.timeline.add(event, describe=describe_group(self.admin, self.group), members=members)

    def run(self) -> None:
        turn = 0
        while not self._halt.wait(self.every_s):
            try:
                committed = self.committed_offsets()
            except Exception as exc:
                self.timeline.add("committed", error=str(exc))
            else:
                if committed != self.committed:
                    self.committed = committed
                    self.timeline.add(
                        "committed", offsets={str(p): o for p, o in committed.items()}
                    )
            turn += 1
            if turn % self.describe_every == 0:
                self.snapshot()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        self._offsets.close()
