"""Delivery: producing a batch's verdicts and dead letters, and serving their reports.

A batch's outputs are produced without waiting for the previous batch's acknowledgements;
delivery reports settle their batch (`consumer.stream.acks`: one shared callback per batch,
a failure names its record, and `Failures` routes it). At most about two batches of outputs
are in flight; beyond that the loop waits for acknowledgements. After serving the reports,
delivery hands over to `Offsets`, the next step, which commits what they settled.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence, Set
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.stream.acks import AckTracker, Batch
from consumer.stream.codec import OutRecord, VerdictRecord, verdict_record
from consumer.stream.failures import Failures
from consumer.stream.keepalive import POLL_SLICE_S, KeepAlive
from consumer.stream.metrics import Metrics
from consumer.stream.offsets import Offsets
from consumer.stream.ports import ProducerLike, TopicPartitionKey, key_of

__all__ = ["Delivery"]

log = get_logger(__name__)

#: librdkafka's RD_KAFKA_PARTITION_UA: the configured partitioner chooses by key.
_BY_KEY = -1


class Delivery:
    """The producer (replaced after a fatal error), the outputs in flight and their delivery
    reports."""

    def __init__(
        self,
        settings: Settings,
        producer_factory: Callable[..., ProducerLike],
        acks: AckTracker,
        assigned: Set[TopicPartitionKey],
        keepalive: KeepAlive,
        failures: Failures,
        offsets: Offsets,
        metrics: Metrics,
        on_client_error: Callable[[KafkaError], None],
    ) -> None:
        self._settings = settings
        self._producer_factory = producer_factory
        self._acks = acks
        #: The partitions this worker owns (`Rebalance` keeps it; read only here).
        self._assigned = assigned
        self._keepalive = keepalive
        self.failures = failures
        #: The next step: it commits what the delivery reports settle.
        self._offsets = offsets
        self._metrics = metrics
        self._on_client_error = on_client_error
        self.producer = producer_factory(error_cb=self._on_producer_error)
        self.producers_replaced = 0

    def __len__(self) -> int:
        """Outputs in the producer's queue (produced, not yet reported)."""
        return len(self.producer)

    # -- producing ---------------------------------------------------------------------

    def produce(
        self,
        verdicts: list[VerdictRecord],
        dead_letters: list[OutRecord],
        spans: dict[TopicPartitionKey, list[int]],
        labels: Counter[str],
    ) -> None:
        """Produce the outputs of partitions still assigned (the new owner of a partition
        revoked or lost meanwhile redoes its records) as one batch in flight: the verdicts,
        in input order, share the batch's delivery callback; dead letters (rare) have their
        own. `spans` holds each partition's first and last offset in the batch, `labels`
        counts the verdicts' labels."""
        assigned = self._assigned
        acks = self._acks
        batch = acks.begin()
        live = [key for key in spans if key in assigned]
        if len(live) < len(spans):
            verdicts = [v for v in verdicts if key_of(v[0]) in assigned]
            dead_letters = [out for out in dead_letters if key_of(out.source) in assigned]
            labels = Counter([produced[3] for produced in verdicts])
        for key in live:
            first, last = spans[key]
            acks.add_part(batch, key, first, last)
        kinds = batch.kinds
        kinds.update({("verdict", label): count for label, count in labels.items()})
        kinds.update(out.kind for out in dead_letters)
        batch.verdicts = verdicts
        batch.pending = len(verdicts) + len(dead_letters)
        try:
            if dead_letters:
                self._produce_in_order(batch, verdicts, dead_letters)
            else:
                self._produce_verdicts(batch, verdicts)
        finally:
            self._keepalive.end()

    def _produce_verdicts(self, batch: Batch, verdicts: Sequence[VerdictRecord]) -> None:
        """The hot path: one `produce` call per verdict, all with the batch's callback. The
        arguments are positional (topic, value, key, partition, on_delivery), which
        confluent-kafka parses in 0.8 us where keywords take 1.1; partition -1 is librdkafka's
        "unassigned": the partitioner picks it from the key, as it does for keywords."""
        produce, topic, report = self.producer.produce, self._settings.output_topic, batch.report
        for produced in verdicts:
            try:
                if produced[4] is None:
                    produce(topic, produced[2], produced[1], _BY_KEY, report)
                else:  # headers carried from the input (trace context, CARRY_HEADERS)
                    produce(topic, produced[2], produced[1], _BY_KEY, report, headers=produced[4])
            except BufferError:
                self._send(self._verdict_out(batch, produced), report)
                produce = self.producer.produce  # replaced if it broke meanwhile
            except KafkaException as exc:
                self.failures.failed(self._verdict_out(batch, produced), exc.args[0])

    def _produce_in_order(
        self, batch: Batch, verdicts: list[VerdictRecord], dead_letters: list[OutRecord]
    ) -> None:
        """Verdicts and dead letters of a batch with failures, in input order per partition."""
        outputs: list[tuple[int, int, VerdictRecord | None, OutRecord | None]] = [
            (int(v[0].partition() or 0), int(v[0].offset() or 0), v, None) for v in verdicts
        ]
        outputs.extend(
            (int(out.source.partition() or 0), int(out.source.offset() or 0), None, out)
            for out in dead_letters
        )
        outputs.sort(key=lambda output: (output[0], output[1]))
        for _, _, produced, out in outputs:
            if produced is not None:
                self._produce_verdicts(batch, (produced,))
            elif out is not None:
                out.batch = batch
                self._send(out, partial(self._report, out))

    def _verdict_out(self, batch: Batch, produced: VerdictRecord) -> OutRecord:
        return verdict_record(produced, self._settings.output_topic, batch)

    def _send(self, out: OutRecord, on_delivery: Callable[[KafkaError | None, Any], None]) -> None:
        kwargs: dict[str, Any] = {"key": out.key, "value": out.value, "on_delivery": on_delivery}
        if out.headers:
            kwargs["headers"] = out.headers
        if out.timestamp is not None:
            kwargs["timestamp"] = out.timestamp
        while True:
            try:
                self.producer.produce(out.topic, **kwargs)
                return
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self.producer.poll(POLL_SLICE_S)
                self._keepalive.poll()
            except KafkaException as exc:
                self.failures.failed(out, exc.args[0])
                return

    def _report(self, out: OutRecord, error: KafkaError | None, _message: Any) -> None:
        """The delivery report of a dead letter (served by `producer.poll` or `flush` on this
        thread); verdicts report to their batch (`Batch.report`)."""
        if error is None:
            if out.batch is not None:
                out.batch.pending -= 1
        else:
            self.failures.failed(out, error)

    # -- delivery reports --------------------------------------------------------------

    def serve(self, timeout: float) -> None:
        """Serve delivery reports, replace what the broker rejected for good by reduced dead
        letters, replace a broken producer; then `Offsets` commits what that settled."""
        failures = self.failures
        self.producer.poll(timeout)
        failures.serve_verdict_reports()
        while failures.rejected:
            for replacement in failures.replacements():
                self._send(replacement, partial(self._report, replacement))
            self.producer.poll(0)
            failures.serve_verdict_reports()
        if failures.producer_broken:
            self._replace_producer()
        self._count_settled()
        self._offsets.settle()

    def drain(self, timeout_s: float) -> None:
        """Wait (up to `timeout_s`) for every output in flight to be settled, committing
        asynchronously what that finished."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            self.producer.flush(max(0.0, min(POLL_SLICE_S, remaining)))
            self.serve(0)
            if (len(self.producer) == 0 and not self.failures.rejected) or remaining <= 0:
                return

    def wait_for_room(self, stopping: threading.Event) -> None:
        """Backpressure: with more than a batch of outputs in flight, wait for
        acknowledgements before taking in more records (the caller serves them then)."""
        limit = self._settings.batch_max_messages
        if len(self.producer) <= limit:
            return
        started = warned = time.monotonic()
        try:
            while len(self.producer) > limit and not stopping.is_set():
                self.producer.poll(POLL_SLICE_S / 4)
                now = time.monotonic()
                if now - started > self._keepalive.after_s:
                    self._keepalive.poll()
                if now - warned > 5:
                    warned = now
                    log.warning("waiting for the broker to acknowledge outputs")
        finally:
            self._keepalive.end()

    def _replace_producer(self) -> None:
        """An idempotent producer that hit a fatal error (after message timeouts the broker
        may fence its epoch) fails every later record: start a new one. Nothing is lost:
        outputs the old one still held count as failed, so their partitions are rewound and
        retried like any other failed delivery."""
        log.warning("replacing the producer after a fatal error")
        self.producer.flush(0)
        self._acks.fail_pending()
        self.producer = self._producer_factory(error_cb=self._on_producer_error)
        self.failures.producer_broken = False
        self.producers_replaced += 1
        self._metrics.producers_replaced.inc()

    def _on_producer_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.failures.producer_broken = True
        self._on_client_error(error)

    def _count_settled(self) -> None:
        """Count the outputs of the batches settled since the last turn."""
        metrics = self._metrics
        for batch in self._acks.settled_batches():
            if batch.abandoned:
                continue  # unknown which were acknowledged: their records are done again
            for (kind, value), count in batch.kinds.items():
                if count <= 0:
                    continue
                if kind == "verdict":
                    metrics.verdicts.labels(value).inc(count)
                elif kind == "dead_letter":
                    metrics.dead_letters.labels(value).inc(count)
