"""The loop: consume a micro-batch, split ok/failed, classify, produce, confirm, commit.

The worker does not wait for a batch's acknowledgements before taking the next batch: while
the model classifies batch N+1, the broker acknowledges the outputs of batch N. Delivery
reports settle their batch (`consumer.stream.acks`: one shared callback per batch, a failure
names its record), and each partition is committed up to its highest record whose output and
every earlier one is acknowledged. So offsets are committed only for records whose verdict or
dead letter the broker has acknowledged, and never past the first record of a partition that
is not: a partition with a failed output is paused, rewound to that record once its other
outputs are settled, and tried again after a backoff, while the other partitions keep moving.
At most about two batches of outputs are in flight; beyond that the loop waits for
acknowledgements. While a batch is classified or room is awaited, the worker pauses its
partitions and keeps polling, so it stays in the group (`max.poll.interval.ms`). Revoked
partitions get their in-flight outputs awaited and a synchronous commit of what is finished;
lost partitions get nothing.

The loop is here; each concern is a collaborator that owns its state, chained like this:

- `Inference` (inference.py): runs the model, inline or on a helper thread;
- `Delivery` (delivery.py): produces the outputs and serves their delivery reports, with
  `Failures` (failures.py) routing the failed ones; then hands over to
- `Offsets` (offsets.py): per-partition positions, hold/rewind/backoff, the only committer;
- `KeepAlive` (keepalive.py): pauses and polls during a long batch;
- `Rebalance` (rebalance.py): the rebalance callbacks and the set of assigned partitions;
- `Regroup` (regroup.py), with `Membership` (membership.py): a membership unsettled for
  GROUP_STALL_S closes the consumer and joins again, then reports not live.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError, TopicPartition

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.contracts.messages import Stage
from consumer.model.classifier import Classifier
from consumer.serving.policies import SourcePolicies
from consumer.serving.scores import ScoreMonitor
from consumer.serving.verdicts import rfc3339_now
from consumer.stream.acks import AckTracker
from consumer.stream.codec import (
    Decoded,
    Failure,
    KafkaRecord,
    OutRecord,
    dead_letter,
    decode,
    verdict_values,
)
from consumer.stream.collector import settle_collector
from consumer.stream.delivery import Delivery
from consumer.stream.errors import ClientErrors
from consumer.stream.failures import Failures
from consumer.stream.health import Health
from consumer.stream.inference import Inference
from consumer.stream.keepalive import KeepAlive, keep_alive_after
from consumer.stream.membership import Membership
from consumer.stream.metrics import Metrics
from consumer.stream.offsets import Offsets
from consumer.stream.ports import ConsumerLike, ProducerLike, TopicPartitionKey
from consumer.stream.rebalance import Rebalance
from consumer.stream.regroup import Regroup
from consumer.stream.shadow import Shadow
from consumer.stream.tracing import NO_TRACING, BatchTracing

__all__ = ["BatchResult", "ConsumerLike", "ProducerLike", "Worker"]

log = get_logger(__name__)


@dataclass(slots=True)
class BatchResult:
    records: int = 0
    verdicts: int = 0
    dead_letters: int = 0
    undelivered: int = 0
    labels: dict[str, int] = field(default_factory=dict)

    def add(self, other: BatchResult) -> None:
        self.records += other.records
        self.verdicts += other.verdicts
        self.dead_letters += other.dead_letters
        self.undelivered += other.undelivered
        for label, count in other.labels.items():
            self.labels[label] = self.labels.get(label, 0) + count


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
        shadow: Shadow | None = None,
        policies: SourcePolicies | None = None,
        tracing: BatchTracing = NO_TRACING,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.health = health or Health()
        self.health.model_loaded = True
        self.metrics.show_model(classifier)
        self._new_models = new_models
        self.classifier = classifier
        self._consumer_factory = consumer_factory
        self._producer_factory = producer_factory
        self._stopping = threading.Event()
        self._model_ref = classifier.reference
        self.totals = BatchResult()
        self.errors = ClientErrors(self.health)
        self.scores = ScoreMonitor(settings, self.metrics, classifier)
        self.shadow = shadow
        self.policies = policies
        self.tracing = tracing

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit, and leave the group."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def connect(self) -> None:
        """Build the clients and the steps that use them, and subscribe. `run()` does this
        first; a test or a benchmark calls it to drive `process()` itself."""
        settings, metrics = self.settings, self.metrics
        self.consumer = consumer = self._new_consumer()
        #: The partitions this worker owns: `Rebalance` changes it, the other steps read it.
        assigned: set[TopicPartitionKey] = set()
        acks = AckTracker()
        self.offsets = Offsets(consumer, acks, assigned, metrics)
        self.keepalive = KeepAlive(
            consumer,
            assigned,
            self.offsets,
            self._turn,
            self.errors.on_consume_error,
            keep_alive_after(settings.kafka_properties().get("max.poll.interval.ms")),
        )
        self.inference = Inference(metrics, self.keepalive)
        failures = Failures(settings, acks, metrics, lambda: self.classifier.version)
        self.delivery = Delivery(
            settings,
            self._producer_factory,
            acks,
            assigned,
            self.keepalive,
            failures,
            self.offsets,
            metrics,
            self.errors.on_client_error,
        )
        membership = Membership(settings.group_stall_bound_s())
        self.rebalance = Rebalance(
            settings,
            assigned,
            self.delivery,
            self.offsets,
            self.keepalive,
            metrics,
            self.health,
            membership,
        )
        self.regroup = Regroup(
            settings,
            membership,
            metrics,
            self.health,
            self.rebalance,
            self.delivery,
            self.offsets,
            self.keepalive,
        )
        self._subscribe(consumer)

    def _new_consumer(self) -> ConsumerLike:
        return self._consumer_factory(
            on_commit=self._on_commit, stats_cb=self._on_stats, error_cb=self.errors.on_client_error
        )

    def _subscribe(self, consumer: ConsumerLike) -> None:
        rebalance = self.rebalance
        consumer.subscribe(
            [self.settings.input_topic],
            on_assign=rebalance.on_assign,
            on_revoke=rebalance.on_revoke,
            on_lost=rebalance.on_lost,
        )
        self.regroup.membership.subscribed()

    def run(self) -> None:
        """Connect; consume, classify, produce and commit until `stop()`; then drain what is
        in flight, commit it, and leave the group."""
        settings = self.settings
        self.connect()
        self.inference.start()
        if self.shadow is not None:
            self.shadow.start()
        log.info("worker started", topic=settings.input_topic, group_id=settings.group_id)
        wait_s = settings.batch_max_wait_ms / 1000
        try:
            while not self._stopping.is_set():
                self._turn()
                self._mind_group()
                self._switch_model()
                self.offsets.resume_due()
                self.delivery.wait_for_room(self._stopping)
                self.delivery.serve(0)
                records = self.consumer.consume(settings.batch_max_messages, wait_s)
                if records:
                    self.process(records)
                else:
                    self.delivery.serve(0)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        try:
            self.delivery.drain(self.settings.shutdown_timeout_s)
            self.offsets.commit(self.assigned, asynchronous=False)
        finally:
            if self.settings.group_leave_on_stop:
                # close() leaves the group; the revoke callback it triggers commits again.
                self.consumer.close()
            # Otherwise the consumer stays open and the process ends without destroying it
            # (`content-classifier run`): no LeaveGroup, the session times out.
            self.inference.close()
            if self.shadow is not None:
                self.shadow.close()
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
        held = self.offsets.rewind_pending()
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
                self.errors.on_consume_error(error)
        result = BatchResult(records=len(inputs))
        if not inputs:
            return result
        with self.tracing.batch(inputs, self.classifier.version) as span:
            self._process(inputs, spans, result)
            if span is not None:
                span.set_attribute("content_classifier.verdicts", result.verdicts)
                span.set_attribute("content_classifier.dead_letters", result.dead_letters)
        return result

    def _process(
        self,
        inputs: list[KafkaRecord],
        spans: dict[TopicPartitionKey, list[int]],
        result: BatchResult,
    ) -> None:
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
        classified, poisoned = self.inference.classify(self.classifier.classify, good)
        if self.policies is not None:
            classified = self.policies.apply(self.classifier, classified)
        self.metrics.observe_stages(self.classifier.estimator)
        verdicts = verdict_values(classified, self._model_ref, now, carry=settings.carried_headers)
        labels = Counter([produced[3] for produced in verdicts])
        result.labels.update(labels)
        self.scores.observe([prediction for _, prediction in classified], labels)
        if self.shadow is not None:
            self.shadow.offer(classified)
        for item, exc in poisoned:
            failures.append(Failure(item.record, Stage.CLASSIFY, type(exc).__name__, str(exc)))
        dead_letters = [self._dead_letter(failure, now) for failure in failures]
        self.metrics.observe_latency([item.record for item, _ in classified])
        undelivered_before = self.delivery.failures.undelivered
        self.delivery.produce(verdicts, dead_letters, spans, labels)
        result.verdicts = len(classified)
        result.dead_letters = len(failures)
        self.delivery.serve(0)  # delivery reports; `Offsets` commits what they settle
        result.undelivered = self.delivery.failures.undelivered - undelivered_before
        self.totals.add(result)
        metrics.batch_duration.observe(time.monotonic() - started)

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

    # -- between batches ---------------------------------------------------------------

    def _turn(self) -> None:
        self.health.last_turn = time.monotonic()
        self.metrics.turned()
        self.scores.refresh()
        if self.policies is not None:
            self.policies.reload_if_changed()
        self.metrics.producer_queue_depth.set(len(self.delivery))

    def _mind_group(self) -> None:
        """Between batches: the stall heal (`consumer.stream.regroup`)."""
        self.consumer = self.regroup.mind(self.consumer, self._new_consumer, self._subscribe)

    def _switch_model(self) -> None:
        """Between batches: serve a new, verified and warmed-up model if one is ready."""
        new = self._new_models() if self._new_models else None
        if new is None:
            return
        old = self.classifier.version
        self.classifier = new
        self.inference.new_model()
        self.scores.new_model(new)
        if gc.get_freeze_count():
            # The process keeps its long-lived heap out of full collections (cli): let the
            # old model go, and keep the new one out as well.
            settle_collector(self.settings.batch_max_messages)
        self._model_ref = new.reference
        self.metrics.show_model(new)
        log.info("model switched", model=new.name, model_version=new.version, previous=old)

    # -- read access (after `connect`) -------------------------------------------------

    @property
    def assigned(self) -> Set[TopicPartitionKey]:
        return self.rebalance.assigned

    @property
    def delivery_failures(self) -> int:
        return self.delivery.failures.delivery_failures

    @property
    def producers_replaced(self) -> int:
        return self.delivery.producers_replaced

    # -- client callbacks --------------------------------------------------------------

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        self.offsets.on_commit(error, partitions)

    def _on_stats(self, raw: str) -> None:
        stats = orjson.loads(raw)
        self.health.broker_reachable = self.metrics.observe_statistics(stats, self.assigned)
        self.regroup.observe(stats)
