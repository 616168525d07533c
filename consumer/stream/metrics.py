"""Prometheus metrics of a worker (prefix `content_classifier_`, base units, no ids, keys or
offsets as label values), and the librdkafka statistics they are partly read from.

Consumer lag comes from librdkafka's statistics callback, as kafka_exporter and kminion
report it per topic and partition: the embedded broker answers ListOffsets wrongly, while the
high watermarks in the statistics are right.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from consumer.serving.metrics import PREFIX, ModelMetrics, observe_many

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
#: Shadow score minus primary score, for the same record and label.
_DIFFERENCE_BUCKETS = (-0.5, -0.25, -0.1, -0.05, -0.01, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics(ModelMetrics):
    """Every metric of one worker: the model's, and the consume loop's and shadow's."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("worker", registry)
        r = self.registry
        self.records_consumed = Counter(
            PREFIX + "records_consumed", "Input records consumed.", ["topic"], registry=r
        )
        self.verdicts = Counter(
            PREFIX + "verdicts",
            "Verdicts acknowledged by the broker, by label.",
            ["label"],
            registry=r,
        )
        self.dead_letters = Counter(
            PREFIX + "dead_letters",
            "Dead letters acknowledged by the broker, by stage.",
            ["stage"],
            registry=r,
        )
        self.batch_size = Histogram(
            PREFIX + "batch_size",
            "Records per micro-batch.",
            buckets=_BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_duration = Histogram(
            PREFIX + "batch_duration_seconds",
            "Time from a batch's consumption until its outputs are produced (their "
            "acknowledgements and the commit follow while the next batch runs).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            PREFIX + "inference_duration_seconds",
            "Time of the model's predict_proba call(s) for one batch.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            PREFIX + "end_to_end_latency_seconds",
            "Verdict time minus the input record's timestamp.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            PREFIX + "consumer_lag",
            "Records behind the high watermark, per assigned partition (librdkafka statistics).",
            ["topic", "partition"],
            registry=r,
        )
        self.committed_offset = Gauge(
            PREFIX + "committed_offset",
            "Last committed offset per assigned partition (librdkafka statistics).",
            ["topic", "partition"],
            registry=r,
        )
        self.high_watermark = Gauge(
            PREFIX + "high_watermark",
            "High watermark offset per assigned partition (librdkafka statistics).",
            ["topic", "partition"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            PREFIX + "assigned_partitions", "Partitions assigned to this worker.", registry=r
        )
        self.paused_partitions = Gauge(
            PREFIX + "paused_partitions",
            "Partitions paused to retry undelivered outputs.",
            registry=r,
        )
        self.rebalances = Counter(
            PREFIX + "rebalances",
            "Rebalance events by kind (assign, revoke, lost).",
            ["kind"],
            registry=r,
        )
        self._group_metrics(r)
        self.commit_failures = Counter(
            PREFIX + "commit_failures", "Offset commits that failed.", registry=r
        )
        self.delivery_failures = Counter(
            PREFIX + "delivery_failures",
            "Outputs the broker did not acknowledge, by whether retrying can help.",
            ["permanent"],
            registry=r,
        )
        self.producers_replaced = Counter(
            PREFIX + "producers_replaced",
            "Producer instances replaced after a fatal error.",
            registry=r,
        )
        self.producer_queue_depth = Gauge(
            PREFIX + "producer_queue_depth",
            "Outputs in the producer's queue or awaiting the broker's acknowledgement.",
            registry=r,
        )
        self.broker_up = Gauge(
            PREFIX + "broker_up", "1 when a broker connection is up (statistics).", registry=r
        )
        self.loop_last_turn = Gauge(
            PREFIX + "loop_last_turn_timestamp_seconds",
            "Unix time of the loop's last turn.",
            registry=r,
        )
        self._shadow_metrics(r)

    def _group_metrics(self, r: CollectorRegistry) -> None:
        """The member's place in its group (`consumer.stream.membership`)."""
        self.group_unassigned = Gauge(
            PREFIX + "group_unassigned_seconds",
            "Seconds since this worker last held a partition, from its subscribe (0 while it "
            "holds one).",
            registry=r,
        )
        self.group_unsettled = Gauge(
            PREFIX + "group_unsettled_seconds",
            "Seconds since this worker's group membership last settled (a completed join), "
            "from its subscribe (0 while settled).",
            registry=r,
        )
        self.group_rejoins = Counter(
            PREFIX + "group_rejoins",
            "Times the consumer was closed and the group joined again because the membership "
            "did not settle within GROUP_STALL_S.",
            registry=r,
        )
        self.group_stalled = Gauge(
            PREFIX + "group_stalled",
            "1 while the membership has not settled within GROUP_STALL_S after a rejoin either "
            "(/healthz fails).",
            registry=r,
        )

    def _shadow_metrics(self, r: CollectorRegistry) -> None:
        """The shadow model (docs/operations.md)."""
        self.shadow_agreement = Counter(
            PREFIX + "shadow_agreement",
            "Records scored by both models, by the primary's and the shadow's label.",
            ["primary_label", "shadow_label"],
            registry=r,
        )
        self.shadow_score_difference = Histogram(
            PREFIX + "shadow_score_difference",
            "The shadow's score minus the primary's, for the primary's scored label.",
            buckets=_DIFFERENCE_BUCKETS,
            registry=r,
        )
        self.shadow_duration = Histogram(
            PREFIX + "shadow_duration_seconds",
            "Time of the shadow model on one call: a batch, or small batches that waited together.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.shadow_batches = Counter(
            PREFIX + "shadow_batches",
            "Batches offered to the shadow model, by result (scored; busy, slow, failed: dropped).",
            ["result"],
            registry=r,
        )
        # Batches differ in size: coverage (the share of offered texts the shadow scored) is
        # scored over the sum of this one.
        self.shadow_texts = Counter(
            PREFIX + "shadow_texts",
            "Texts offered to the shadow model, by the result of their batch (as shadow_batches).",
            ["result"],
            registry=r,
        )
        self.shadow_verdicts = Counter(
            PREFIX + "shadow_verdicts",
            "Shadow verdicts produced to SHADOW_OUTPUT_TOPIC, by delivery result.",
            ["result"],
            registry=r,
        )
        self.shadow_model = Info(PREFIX + "shadow_model", "The shadow model.", registry=r)
        self.shadow_reloads = Counter(
            PREFIX + "shadow_reloads",
            "New shadow artifacts seen at SHADOW_MODEL_PATH, by result (loaded, refused).",
            ["result"],
            registry=r,
        )

    # -- librdkafka statistics ---------------------------------------------------------

    def observe_statistics(
        self, stats: Mapping[str, Any], assigned: Iterable[tuple[str, int]]
    ) -> bool:
        """Update lag, watermarks and committed offsets from a librdkafka statistics document
        (parsed). Returns True when at least one broker connection is up."""
        mine = set(assigned)
        for topic, topic_stats in stats.get("topics", {}).items():
            for pid, p in topic_stats.get("partitions", {}).items():
                partition = int(pid)
                if partition < 0 or (topic, partition) not in mine:
                    continue
                labels = (topic, str(partition))
                high = p.get("hi_offset", -1)
                committed = p.get("committed_offset", -1)
                if high >= 0:
                    self.high_watermark.labels(*labels).set(high)
                if committed >= 0:
                    self.committed_offset.labels(*labels).set(committed)
                lag = p.get("consumer_lag", -1)
                if lag < 0 and high >= 0:
                    position = committed if committed >= 0 else 0
                    lag = max(0, high - position)
                if lag >= 0:
                    self.consumer_lag.labels(*labels).set(lag)
        up = any(
            broker.get("state") == "UP" and broker.get("nodeid", -1) >= 0
            for broker in stats.get("brokers", {}).values()
        )
        self.broker_up.set(1 if up else 0)
        return up

    def forget_partitions(self, keys: Iterable[tuple[str, int]]) -> None:
        """Drop the per-partition series of partitions this worker no longer owns."""
        for topic, partition in keys:
            for gauge in (self.consumer_lag, self.committed_offset, self.high_watermark):
                with contextlib.suppress(KeyError):
                    gauge.remove(topic, str(partition))

    def observe_latency(self, records: Sequence[Any]) -> None:
        """Each record's time from its timestamp (CreateTime or LogAppendTime) to now."""
        if not records:
            return
        stamps = np.array([record.timestamp()[1] for record in records], np.float64)
        stamps = stamps[stamps > 0]  # -1: the record has no timestamp
        latencies = np.maximum(0.0, (time.time() * 1000 - stamps) / 1000)
        observe_many(self.end_to_end_latency, latencies)

    def turned(self) -> None:
        self.loop_last_turn.set(time.time())
