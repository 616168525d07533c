"""The loop: consume a micro-batch, split ok/failed, classify, produce, confirm, commit.

The worker does not wait for a batch's acknowledgements before taking the next batch: while
the model classifies batch N+1, the broker acknowledges the outputs of batch N. Delivery
reports settle their batch (`consumer.stream.acks`: one shared callback per batch, a failure names
its record), and each partition is committed up to its highest record whose output and every
earlier one is acknowledged. So offsets are committed only for records whose
verdict or dead letter the broker has acknowledged, and never past the first record of a
partition that is not: a partition with a failed output is paused, rewound to that record
once its other outputs are settled, and tried again after a backoff, while the other
partitions keep moving. At most about two batches of outputs are in flight; beyond that the
loop waits for acknowledgements. While a batch is classified or room is awaited, the worker
pauses its partitions and keeps polling, so it stays in the group (`max.poll.interval.ms`).
Revoked partitions get their in-flight outputs awaited and a synchronous commit of what is
finished; lost partitions get nothing.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumer.config.logs import RepeatFilter, get_logger
from consumer.config.settings import Settings
from consumer.contracts.messages import Stage
from consumer.model.classifier import Classifier, Prediction
from consumer.model.isolation import Classified, classify_isolating
from consumer.stream.acks import AckTracker, Batch
from consumer.stream.codec import (
    Decoded,
    Failure,
    KafkaRecord,
    OutRecord,
    VerdictRecord,
    dead_letter,
    decode,
    reduced_dead_letter,
    rfc3339_now,
    verdict_record,
    verdict_values,
)
from consumer.stream.health import Health
from consumer.stream.metrics import Metrics, observe_many

__all__ = [
    "BatchResult",
    "ConsumerLike",
    "ProducerLike",
    "Worker",
    "is_permanent",
    "settle_collector",
]

log = get_logger(__name__)

TopicPartitionKey = tuple[str, int]

#: Errors after which producing the same record again can never succeed.
_PERMANENT = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
    }
)
#: Errors after which the idempotent producer instance cannot go on (its epoch is fenced or
#: its sequence broken): it is replaced by a new one, and the batch is retried.
_PRODUCER_BROKEN = frozenset(
    {
        KafkaError._FATAL,
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.INVALID_PRODUCER_ID_MAPPING,
    }
)
_POLL_SLICE_S = 0.2
#: librdkafka's RD_KAFKA_PARTITION_UA: the configured partitioner chooses by key.
_BY_KEY = -1
#: A batch that takes longer than this (a slow model, a slow broker) starts keep-alive polls.
#: Not sooner: pausing drops the records librdkafka has prefetched for the paused partitions
#: (they are fetched again on resume), which, done for every batch of a worker starved of
#: CPU, cut its throughput to a fraction. It must stay well below `max.poll.interval.ms`.
_KEEP_ALIVE_AFTER_S = 1.0
#: A model whose last batch took less than this classifies the next one on the loop's own
#: thread: the hand-off to the helper thread and back costs about 0.3 ms a batch, and a batch
#: this fast is far from `max.poll.interval.ms` (minutes by default). A slower batch, a new
#: model and the first batch go to the helper thread.
_INLINE_UNDER_S = 0.25
_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 30.0
#: The retry time of a partition held for a rewind that waits for its other outputs.
_NEVER = float("inf")
#: The cyclic collector's first-generation threshold is at least this, and this many times the
#: batch size (Python's default is 700 net container allocations).
_GC_YOUNG_MIN = 10_000
_GC_YOUNG_PER_RECORD = 20
#: Outputs in flight are awaited on revoke for at most this long (then the new owner redoes
#: them: duplicates, never a loss).
_REVOKE_DRAIN_S = 5.0


def is_permanent(error: KafkaError) -> bool:
    """True when the broker (or librdkafka) will never accept this record as it is."""
    return error.code() in _PERMANENT


class ConsumerLike(Protocol):
    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...
    def consume(self, num_messages: int, timeout: float) -> list[Any]: ...
    def poll(self, timeout: float) -> Any: ...
    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> Any: ...
    def seek(self, partition: TopicPartition) -> None: ...
    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def close(self) -> None: ...


class ProducerLike(Protocol):
    def __len__(self) -> int: ...
    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...


@dataclass(slots=True)
class BatchResult:
    records: int = 0
    verdicts: int = 0
    dead_letters: int = 0
    undelivered: int = 0
    labels: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Backoff:
    attempts: int
    retry_at: float
    #: Paused until `retry_at`; False once resumed for the retry (the count stays until a
    #: batch of the partition is delivered).
    waiting: bool = True


def settle_collector(batch_max_messages: int) -> None:
    """Keep the cyclic garbage collector off the hot path of a long-running worker.

    - The heap that lives as long as the process (the model's hundred thousand objects, the
      modules) is frozen: full collections no longer traverse it (about 30 ms each, every few
      batches otherwise).
    - A batch keeps a few container objects per record alive until its outputs are produced,
      more than Python's default young-generation threshold of 700: the collector then ran
      about every 180 records, mostly while the model held the thread, for about 0.45 us a
      record (1 % of a worker's time; `bench/overhead.py`). The threshold is raised above
      what a batch keeps alive, so collections happen only when garbage really accumulates.

    Called again after a model switch: the old model is collected and the new one frozen."""
    gc.unfreeze()
    gc.collect()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(max(_GC_YOUNG_MIN, _GC_YOUNG_PER_RECORD * batch_max_messages), older, oldest)
    gc.freeze()


def _key(record: KafkaRecord) -> TopicPartitionKey:
    return (str(record.topic()), int(record.partition() or 0))


class Worker:
    """One member of the consumer group. `run()` returns when `stop()` is called."""

    def __init__(
        self,
        settings: Settings,
        classifier: Classifier,
        consumer_factory: Callable[..., ConsumerLike],
        producer_factory: Callable[..., ProducerLike],
        metrics: Metrics | None = None,
        health: Health | None = None,
        new_models: Callable[[], Classifier | None] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.health = health or Health()
        self.health.model_loaded = True
        self.metrics.model.info({"name": classifier.name, "version": classifier.version})
        self._new_models = new_models
        self.classifier = classifier
        self._consumer_factory = consumer_factory
        self._producer_factory = producer_factory
        self._stopping = threading.Event()
        self._model_ref = {"name": classifier.name, "version": classifier.version}
        # Next offset to commit per partition: everything before it is acknowledged.
        self._finished: dict[TopicPartitionKey, int] = {}
        self._committed: dict[TopicPartitionKey, int] = {}
        self._backoff: dict[TopicPartitionKey, _Backoff] = {}
        self._paused_for_batch: list[TopicPartition] = []
        self._executor: ThreadPoolExecutor | None = None
        self._acks = AckTracker()
        #: Outputs the broker rejected for good, to replace by reduced dead letters.
        self._rejected: list[tuple[OutRecord, KafkaError]] = []
        self.assigned: set[TopicPartitionKey] = set()
        self.totals = BatchResult()
        self.delivery_failures = 0
        #: Outputs that failed and were not replaced (their records are read again).
        self._undelivered = 0
        self.producers_replaced = 0
        self._error_repeats = RepeatFilter()
        self._producer_broken = False
        #: Classify on this thread (the model has been fast): see `_classify`.
        self._inline = False

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit, and leave the group."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        settings = self.settings
        self.consumer = self._consumer_factory(
            on_commit=self._on_commit, stats_cb=self._on_stats, error_cb=self._on_client_error
        )
        self.producer = self._producer_factory(error_cb=self._on_producer_error)
        self._producer_broken = False
        self._inline = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")
        self.consumer.subscribe(
            [settings.input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("worker started", topic=settings.input_topic, group_id=settings.group_id)
        wait_s = settings.batch_max_wait_ms / 1000
        try:
            while not self._stopping.is_set():
                self._turn()
                self._switch_model()
                self._resume_due()
                self._wait_for_room()
                records = self.consumer.consume(settings.batch_max_messages, wait_s)
                if records:
                    self.process(records)
                else:
                    self._serve(0)
        finally:
            self._shutdown()

    def _switch_model(self) -> None:
        """Between batches: serve a new, verified and warmed-up model if one is ready."""
        new = self._new_models() if self._new_models else None
        if new is None:
            return
        old = self.classifier.version
        self.classifier = new
        self._inline = False  # until the new model has shown its speed
        if gc.get_freeze_count():
            # The process keeps its long-lived heap out of full collections (cli): let the
            # old model go, and keep the new one out as well.
            settle_collector(self.settings.batch_max_messages)
        self._model_ref = {"name": new.name, "version": new.version}
        self.metrics.model.info({"name": new.name, "version": new.version})
        log.info("model switched", model=new.name, model_version=new.version, previous=old)

    def _turn(self) -> None:
        self.health.last_turn = time.monotonic()
        self.metrics.turned()
        self.metrics.producer_queue_depth.set(len(self.producer))

    def _shutdown(self) -> None:
        try:
            self._drain(self.settings.shutdown_timeout_s)
            self._commit_finished(self.assigned, asynchronous=False)
        finally:
            # close() leaves the group; the revoke callback it triggers commits again.
            self.consumer.close()
            if self._executor is not None:
                self._executor.shutdown(wait=False)
        log.info(
            "worker stopped",
            records=self.totals.records,
            verdicts=self.totals.verdicts,
            dead_letters=self.totals.dead_letters,
        )

    # -- one batch ---------------------------------------------------------------------

    def process(self, records: Sequence[Any]) -> BatchResult:
        """Classify one micro-batch and produce its outputs; then serve the delivery reports
        that have arrived (of this batch or earlier ones) and commit what they settle."""
        inputs: list[KafkaRecord] = []
        #: Per partition: its first and last offset in this batch.
        spans: dict[TopicPartitionKey, list[int]] = {}
        held = self._rewind_pending()
        for record in records:
            error = record.error()
            if error is None:
                key = (record.topic(), record.partition())
                if held and key in held:
                    continue  # read again from the rewind point
                inputs.append(record)
                span = spans.get(key)
                if span is None:
                    spans[key] = [record.offset(), record.offset()]
                else:
                    span[1] = record.offset()
            elif error.code() != KafkaError._PARTITION_EOF:
                self._on_consume_error(error)
        result = BatchResult(records=len(inputs))
        if not inputs:
            return result
        started = time.monotonic()
        metrics = self.metrics
        metrics.records_consumed.labels(self.settings.input_topic).inc(len(inputs))
        metrics.batch_size.observe(len(inputs))
        settings = self.settings
        now = rfc3339_now()
        good: list[Decoded] = []
        failures: list[Failure] = []
        max_chars, max_bytes = settings.max_text_chars, settings.max_value_bytes
        for record in inputs:
            item = decode(record, max_chars, max_bytes)
            if type(item) is Decoded:
                good.append(item)
            else:
                failures.append(item)  # type: ignore[arg-type]
        classified, poisoned = self._classify(good)
        verdicts = verdict_values(classified, self._model_ref, now)
        labels = Counter([produced[3] for produced in verdicts])
        result.labels.update(labels)
        for item, exc in poisoned:
            failures.append(Failure(item.record, Stage.CLASSIFY, type(exc).__name__, str(exc)))
        dead_letters = [self._dead_letter(failure, now) for failure in failures]
        self._observe_latency(classified)
        undelivered_before = self._undelivered
        self._produce(verdicts, dead_letters, spans, labels)
        result.verdicts = len(classified)
        result.dead_letters = len(failures)
        self._serve(0)
        result.undelivered = self._undelivered - undelivered_before
        self._add_totals(result)
        metrics.batch_duration.observe(time.monotonic() - started)
        return result

    def _observe_latency(self, classified: list[tuple[Decoded, Prediction]]) -> None:
        """Each record's time from its timestamp (CreateTime or LogAppendTime) to now."""
        if not classified:
            return
        stamps = np.array([item.record.timestamp()[1] for item, _ in classified], np.float64)
        stamps = stamps[stamps > 0]  # -1: the record has no timestamp
        latencies = np.maximum(0.0, (time.time() * 1000 - stamps) / 1000)
        observe_many(self.metrics.end_to_end_latency, latencies)

    def _dead_letter(self, failure: Failure, now: str) -> OutRecord:
        record = failure.record
        log.info(
            "record dead-lettered",
            topic=record.topic(),
            partition=record.partition(),
            offset=record.offset(),
            stage=failure.stage.value,
            error=failure.exception_class,
        )
        settings = self.settings
        return dead_letter(
            failure, settings.dlq_topic, settings.group_id, now, self.classifier.version
        )

    def _classify(self, items: list[Decoded]) -> Classified[Decoded]:
        """Run the model in a helper thread while this one keeps the group membership alive,
        so that even a slow model never exceeds `max.poll.interval.ms`; or, while the model
        is fast (`_INLINE_UNDER_S`), on this thread."""
        if not items:
            return [], []
        started = time.monotonic()
        if self._executor is None or self._inline:  # (no executor: process() called by tests)
            try:
                return classify_isolating(self.classifier.classify, items)
            finally:
                elapsed = time.monotonic() - started
                self._inline = elapsed < _INLINE_UNDER_S
                self.metrics.inference_duration.observe(elapsed)
        future: Future[Classified[Decoded]] = self._executor.submit(
            classify_isolating, self.classifier.classify, items
        )
        try:
            while True:
                try:
                    return future.result(timeout=_POLL_SLICE_S)
                except FutureTimeout:
                    if time.monotonic() - started > _KEEP_ALIVE_AFTER_S:
                        self._keep_alive()
        finally:
            elapsed = time.monotonic() - started
            self._inline = elapsed < _INLINE_UNDER_S
            self.metrics.inference_duration.observe(elapsed)
            self._end_keep_alive()

    def _add_totals(self, result: BatchResult) -> None:
        totals = self.totals
        totals.records += result.records
        totals.verdicts += result.verdicts
        totals.dead_letters += result.dead_letters
        totals.undelivered += result.undelivered
        for label, count in result.labels.items():
            totals.labels[label] = totals.labels.get(label, 0) + count

    # -- delivery ----------------------------------------------------------------------

    def _produce(
        self,
        verdicts: list[VerdictRecord],
        dead_letters: list[OutRecord],
        spans: dict[TopicPartitionKey, list[int]],
        labels: Counter[str],
    ) -> None:
        """Produce the outputs of partitions still assigned (the new owner of a partition
        revoked or lost meanwhile redoes its records) as one batch in flight: the verdicts,
        in input order, share the batch's delivery callback; dead letters (rare) have their
        own. `labels` counts the verdicts' labels."""
        assigned = self.assigned
        acks = self._acks
        batch = acks.begin()
        live = [key for key in spans if key in assigned]
        if len(live) < len(spans):
            verdicts = [v for v in verdicts if _key(v[0]) in assigned]
            dead_letters = [out for out in dead_letters if _key(out.source) in assigned]
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
            self._end_keep_alive()

    def _produce_verdicts(self, batch: Batch, verdicts: Sequence[VerdictRecord]) -> None:
        """The hot path: one `produce` call per verdict, all with the batch's callback. The
        arguments are positional (topic, value, key, partition, on_delivery), which
        confluent-kafka parses in 0.8 us where keywords take 1.1; partition -1 is librdkafka's
        "unassigned": the partitioner picks it from the key, as it does for keywords."""
        produce, topic, report = self.producer.produce, self.settings.output_topic, batch.report
        for produced in verdicts:
            try:
                produce(topic, produced[2], produced[1], _BY_KEY, report)
            except BufferError:
                self._send(self._verdict_out(batch, produced), report)
                produce = self.producer.produce  # replaced if it broke meanwhile
            except KafkaException as exc:
                self._failed(self._verdict_out(batch, produced), exc.args[0])

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
        return verdict_record(produced, self.settings.output_topic, batch)

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
                self.producer.poll(_POLL_SLICE_S)
                self._keep_alive()
            except KafkaException as exc:
                self._failed(out, exc.args[0])
                return

    def _report(self, out: OutRecord, error: KafkaError | None, _message: Any) -> None:
        """The delivery report of a dead letter (served by `producer.poll` or `flush` on this
        thread); verdicts report to their batch (`Batch.report`)."""
        if error is None:
            if out.batch is not None:
                out.batch.pending -= 1
        else:
            self._failed(out, error)

    def _serve_failed_verdicts(self) -> None:
        """Failed delivery reports of verdicts: find each one's record by its value."""
        errors = self._acks.errors
        while errors:
            batch, error, message = errors.pop(0)
            if batch.abandoned:
                continue
            produced = batch.verdict_of(message.value() if message is not None else None)
            if produced is not None:
                self._failed(self._verdict_out(batch, produced), error)
                continue
            # Not found (no message to match): every record of the batch is done again.
            self._count_failure(error)
            log.error("delivery failed", error=error.str(), output_topic=self.settings.output_topic)
            self._undelivered += 1
            batch.pending -= 1
            self._acks.fail_batch(batch)

    def _count_failure(self, error: KafkaError) -> None:
        self.delivery_failures += 1
        self.metrics.delivery_failures.labels(str(is_permanent(error)).lower()).inc()
        if error.fatal() or error.code() in _PRODUCER_BROKEN:
            self._producer_broken = True

    def _failed(self, out: OutRecord, error: KafkaError) -> None:
        self._count_failure(error)
        source = out.source
        log.error(
            "delivery failed",
            topic=source.topic(),
            partition=source.partition(),
            offset=source.offset(),
            output_topic=out.topic,
            error=error.str(),
            permanent=is_permanent(error),
        )
        if is_permanent(error) and not out.reduced:
            # Its batch stays unsettled until the reduced dead letter that replaces it is.
            self._rejected.append((out, error))
            return
        self._undelivered += 1
        batch = out.batch
        if batch is not None and not batch.abandoned:
            batch.pending -= 1
            batch.kinds[out.kind] -= 1
            self._acks.fail(_key(out.source), int(out.source.offset() or 0))

    def _serve(self, timeout: float) -> None:
        """Serve delivery reports, replace what the broker rejected for good, commit."""
        self.producer.poll(timeout)
        self._serve_failed_verdicts()
        while self._rejected:
            rejected, self._rejected = self._rejected, []
            now = rfc3339_now()
            settings = self.settings
            for out, error in rejected:
                replacement = reduced_dead_letter(
                    out,
                    error.str(),
                    settings.dlq_topic,
                    settings.group_id,
                    now,
                    self.classifier.version,
                )
                batch = replacement.batch = out.batch
                if batch is not None:
                    batch.kinds[out.kind] -= 1
                    batch.kinds[replacement.kind] += 1
                self._send(replacement, partial(self._report, replacement))
            self.producer.poll(0)
            self._serve_failed_verdicts()
        if self._producer_broken:
            self._replace_producer()
        self._settle()

    def _drain(self, timeout_s: float) -> None:
        """Wait (up to `timeout_s`) for every output in flight to be settled, then commit
        asynchronously what that finished."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            self.producer.flush(max(0.0, min(_POLL_SLICE_S, remaining)))
            self._serve(0)
            if (len(self.producer) == 0 and not self._rejected) or remaining <= 0:
                return

    def _wait_for_room(self) -> None:
        """Backpressure: with more than a batch of outputs in flight, wait for
        acknowledgements before taking in more records."""
        limit = self.settings.batch_max_messages
        if len(self.producer) <= limit:
            self._serve(0)
            return
        started = warned = time.monotonic()
        try:
            while len(self.producer) > limit and not self._stopping.is_set():
                self.producer.poll(_POLL_SLICE_S / 4)
                now = time.monotonic()
                if now - started > _KEEP_ALIVE_AFTER_S:
                    self._keep_alive()
                if now - warned > 5:
                    warned = now
                    log.warning("waiting for the broker to acknowledge outputs")
        finally:
            self._end_keep_alive()
        self._serve(0)

    def _flush_counts(self) -> None:
        """Count the outputs of the batches settled since the last turn."""
        metrics = self.metrics
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

    def _replace_producer(self) -> None:
        """An idempotent producer that hit a fatal error (after message timeouts the broker
        may fence its epoch) fails every later record: start a new one. Nothing is lost:
        outputs the old one still held count as failed, so their partitions are rewound and
        retried like any other failed delivery."""
        log.warning("replacing the producer after a fatal error")
        self.producer.flush(0)
        self._acks.fail_pending()
        self.producer = self._producer_factory(error_cb=self._on_producer_error)
        self._producer_broken = False
        self.producers_replaced += 1
        self.metrics.producers_replaced.inc()

    def _on_producer_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._producer_broken = True
        self._on_client_error(error)

    # -- staying in the group while a batch is in flight ---------------------------------

    def _keep_alive(self) -> None:
        """Pause every assigned partition (once per batch) and poll: this serves the group
        protocol and resets the poll timer without taking in more records."""
        self._turn()
        if not self._paused_for_batch:
            self._paused_for_batch = [TopicPartition(t, p) for t, p in sorted(self.assigned)]
            if self._paused_for_batch:
                self.consumer.pause(self._paused_for_batch)
        message = self.consumer.poll(0)
        if message is None:
            return
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                self._on_consume_error(error)
            return
        # A record of a partition assigned meanwhile: read it again after this batch.
        self.consumer.seek(TopicPartition(message.topic(), message.partition(), message.offset()))
        if (message.topic(), message.partition()) in self.assigned:
            tp = TopicPartition(message.topic(), message.partition())
            self.consumer.pause([tp])
            self._paused_for_batch.append(tp)

    def _waiting_count(self) -> int:
        return sum(1 for b in self._backoff.values() if b.waiting)

    def _waiting_for_retry(self, key: TopicPartitionKey) -> bool:
        backoff = self._backoff.get(key)
        return backoff is not None and backoff.waiting

    def _rewind_pending(self) -> set[TopicPartitionKey]:
        """Partitions with a failed output whose rewind waits for their other outputs."""
        if not self._backoff:
            return set()
        return {key for key, b in self._backoff.items() if b.waiting and b.retry_at == _NEVER}

    def _end_keep_alive(self) -> None:
        if not self._paused_for_batch:
            return
        paused, self._paused_for_batch = self._paused_for_batch, []
        again = [
            tp
            for tp in paused
            if (tp.topic, tp.partition) in self.assigned
            and not self._waiting_for_retry((tp.topic, tp.partition))
        ]
        if again:
            self.consumer.resume(again)

    # -- commit and retry --------------------------------------------------------------

    def _settle(self) -> None:
        """Advance each partition to its first unacknowledged record and commit; pause a
        partition with a failed output, and rewind it there once its other outputs are
        settled."""
        acks = self._acks
        moved: set[TopicPartitionKey] = set()
        for track in acks.tracks():
            key = track.key
            position = acks.advance(key)
            if position is not None and position > self._finished.get(key, -1):
                self._finished[key] = position
                moved.add(key)
            if track.first_failed is None:
                if position is not None:
                    backoff = self._backoff.get(key)
                    if backoff is not None and not backoff.waiting:
                        del self._backoff[key]  # the retry got through
                continue
            backoff = self._backoff.get(key)
            if backoff is None or backoff.retry_at != _NEVER:
                self._hold(key)
            if track.unsettled == 0:
                self._rewind(key, track.first_failed)
        self._flush_counts()
        if moved:
            self._commit_finished(moved, asynchronous=True)

    def _hold(self, key: TopicPartitionKey) -> None:
        """Stop taking in records of a partition with a failed output until it is rewound."""
        previous = self._backoff.get(key)
        attempts = previous.attempts + 1 if previous else 1
        self._backoff[key] = _Backoff(attempts, _NEVER)
        self.metrics.paused_partitions.set(self._waiting_count())
        if key in self.assigned:
            self.consumer.pause([TopicPartition(key[0], key[1])])

    def _rewind(self, key: TopicPartitionKey, first_failed: int) -> None:
        """Read a partition again from its first record whose output failed, after a
        backoff; the outputs tracked after that record are forgotten (redone)."""
        self._acks.forget(key)
        if first_failed > self._finished.get(key, 0):
            self._finished[key] = first_failed
        backoff = self._backoff[key]
        delay = min(_BACKOFF_MAX_S, _BACKOFF_START_S * 2 ** (backoff.attempts - 1))
        backoff.retry_at = time.monotonic() + delay
        if key not in self.assigned:
            return
        self.consumer.seek(TopicPartition(key[0], key[1], first_failed))
        self.consumer.pause([TopicPartition(key[0], key[1])])
        log.warning(
            "partition paused to retry undelivered outputs",
            topic=key[0],
            partition=key[1],
            offset=first_failed,
            attempt=backoff.attempts,
            retry_in_s=delay,
        )

    def _resume_due(self) -> None:
        if not self._backoff:
            return
        now = time.monotonic()
        due = [key for key, b in self._backoff.items() if b.waiting and b.retry_at <= now]
        if due:
            for key in due:
                self._backoff[key].waiting = False
            self.metrics.paused_partitions.set(self._waiting_count())
            self.consumer.resume([TopicPartition(t, p) for t, p in due if (t, p) in self.assigned])

    def _commit_finished(self, keys: set[TopicPartitionKey], *, asynchronous: bool) -> None:
        offsets = [
            TopicPartition(topic, partition, self._finished[(topic, partition)])
            for topic, partition in sorted(keys)
            if (topic, partition) in self._finished
            and self._committed.get((topic, partition)) != self._finished[(topic, partition)]
        ]
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as exc:
            # A commit can fail when the group rebalances; the new owner starts from the last
            # commit that succeeded, so this costs duplicates, never a lost record.
            log.warning("commit failed", error=str(exc.args[0]), partitions=len(offsets))
            self.metrics.commit_failures.inc()
            return
        if not asynchronous:
            for tp in offsets:
                self._committed[(tp.topic, tp.partition)] = tp.offset

    # -- callbacks ---------------------------------------------------------------------

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None:
            if error.code() != KafkaError._NO_OFFSET:
                log.warning("commit failed", error=error.str())
                self.metrics.commit_failures.inc()
            return
        for tp in partitions:
            if tp.error is None and tp.offset >= 0:
                self._committed[(tp.topic, tp.partition)] = tp.offset

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.assigned.update((tp.topic, tp.partition) for tp in partitions)
        self.health.group_joined = True
        self.health.broker_reachable = True
        self.metrics.rebalances.labels("assign").inc()
        self.metrics.assigned_partitions.set(len(self.assigned))
        fresh = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        if fresh:
            if self._paused_for_batch:
                # A batch is in flight: these wait for it like the others.
                self.consumer.pause(fresh)
                self._paused_for_batch.extend(fresh)
            else:
                # librdkafka keeps a partition's pause across losing and regaining it (a
                # backoff that a lost session cut short): start every assignment resumed.
                self.consumer.resume(fresh)
        log.info("partitions assigned", partitions=sorted(tp.partition for tp in partitions))

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        # Outputs already produced are awaited (briefly) so that their records count as
        # finished; a batch still being classified is not produced for these partitions, and
        # their next owner redoes it (at-least-once).
        if any(self._acks.unsettled(key) for key in keys):
            self._drain(min(_REVOKE_DRAIN_S, self.settings.shutdown_timeout_s))
        self._commit_finished(keys, asynchronous=False)
        self._forget(keys)
        self.metrics.rebalances.labels("revoke").inc()
        log.info("partitions revoked", partitions=sorted(p for _, p in keys))

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        # Another member may own these already: committing could move its offsets backwards.
        self._forget(keys)
        self.health.group_joined = False
        self.metrics.rebalances.labels("lost").inc()
        log.warning("partitions lost", partitions=sorted(p for _, p in keys))

    def _forget(self, keys: set[TopicPartitionKey]) -> None:
        self.assigned.difference_update(keys)
        self.metrics.assigned_partitions.set(len(self.assigned))
        self.metrics.forget_partitions(keys)
        for key in keys:
            self._finished.pop(key, None)
            self._committed.pop(key, None)
            self._backoff.pop(key, None)
            self._acks.forget(key)

    def _on_stats(self, raw: str) -> None:
        self.health.broker_reachable = self.metrics.observe_statistics(raw, self.assigned)

    def _on_client_error(self, error: KafkaError) -> None:
        """librdkafka's error callback (transport errors; the client recovers by itself)."""
        if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self.health.broker_reachable = False
        if self._error_repeats.filter(
            logging.LogRecord("kafka", logging.ERROR, "", 0, error.str(), None, None)
        ):
            log.error("kafka client error", error=error.str(), fatal=error.fatal())

    def _on_consume_error(self, error: KafkaError) -> None:
        log.error("consume error", error=error.str(), fatal=error.fatal())
        if error.fatal():
            raise KafkaException(error)
