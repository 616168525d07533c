"""The loop: consume a micro-batch, split ok/failed, classify, produce, confirm, commit.

Offsets are committed only for records whose verdict or dead letter the broker has
acknowledged, and only up to the first record of a partition that is not acknowledged
(the partition is rewound there and the record is tried again). Revoked partitions get a
synchronous commit of what is finished; lost partitions get nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumer.codec import (
    Decoded,
    Failure,
    KafkaRecord,
    OutRecord,
    dead_letter,
    decode,
    rfc3339_now,
    verdict,
)
from consumer.contracts import Stage
from consumer.logs import get_logger
from consumer.model import Classifier, Prediction
from consumer.settings import Settings

__all__ = ["BatchResult", "ConsumerLike", "ProducerLike", "Worker", "classify_isolating"]

log = get_logger(__name__)

TopicPartitionKey = tuple[str, int]


class ConsumerLike(Protocol):
    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...
    def consume(self, num_messages: int, timeout: float) -> list[Any]: ...
    def commit(self, **kwargs: Any) -> Any: ...
    def seek(self, partition: TopicPartition) -> None: ...
    def close(self) -> None: ...


class ProducerLike(Protocol):
    def produce(self, topic: str, **kwargs: Any) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...


@dataclass(slots=True)
class BatchResult:
    records: int = 0
    verdicts: int = 0
    dead_letters: int = 0
    undelivered: int = 0
    labels: dict[str, int] = field(default_factory=dict)


def classify_isolating(
    classify: Callable[[Sequence[str]], list[Prediction]], items: Sequence[Decoded]
) -> tuple[list[tuple[Decoded, Prediction]], list[tuple[Decoded, BaseException]]]:
    """One vectorised call for the batch; if the model raises, split the batch in halves
    until each failing record is isolated, so one poison record never blocks the others."""
    if not items:
        return [], []
    try:
        predictions = classify([item.text for item in items])
    except Exception as exc:
        if len(items) == 1:
            return [], [(items[0], exc)]
        middle = len(items) // 2
        ok_left, bad_left = classify_isolating(classify, items[:middle])
        ok_right, bad_right = classify_isolating(classify, items[middle:])
        return ok_left + ok_right, bad_left + bad_right
    return list(zip(items, predictions, strict=True)), []


class Worker:
    """One member of the consumer group. `run()` returns when `stop()` is called."""

    def __init__(
        self,
        settings: Settings,
        classifier: Classifier,
        consumer_factory: Callable[..., ConsumerLike],
        producer_factory: Callable[..., ProducerLike],
    ) -> None:
        self.settings = settings
        self.classifier = classifier
        self._consumer_factory = consumer_factory
        self._producer_factory = producer_factory
        self._stopping = threading.Event()
        self._model_ref = {"name": classifier.name, "version": classifier.version}
        # Next offset to commit per partition: everything before it is acknowledged.
        self._finished: dict[TopicPartitionKey, int] = {}
        self._committed: dict[TopicPartitionKey, int] = {}
        self.assigned: set[TopicPartitionKey] = set()
        self.totals = BatchResult()

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit, and leave the group."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        settings = self.settings
        self.consumer = self._consumer_factory(on_commit=self._on_commit)
        self.producer = self._producer_factory()
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
                records = self.consumer.consume(settings.batch_max_messages, wait_s)
                if records:
                    self.process(records)
                else:
                    self.producer.poll(0)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        try:
            self.producer.flush(max(0.0, deadline - time.monotonic()))
            self._commit_finished(self.assigned, asynchronous=False)
        finally:
            # close() leaves the group; the revoke callback it triggers commits again.
            self.consumer.close()
        log.info(
            "worker stopped",
            records=self.totals.records,
            verdicts=self.totals.verdicts,
            dead_letters=self.totals.dead_letters,
        )

    # -- one batch ---------------------------------------------------------------------

    def process(self, records: Sequence[Any]) -> BatchResult:
        """Classify and deliver one micro-batch, then commit what is acknowledged."""
        result = BatchResult()
        inputs: list[KafkaRecord] = []
        for record in records:
            error = record.error()
            if error is None:
                inputs.append(record)
            elif error.code() != KafkaError._PARTITION_EOF:
                self._on_consume_error(error)
        if not inputs:
            return result
        settings = self.settings
        now = rfc3339_now()
        outputs: list[OutRecord] = []
        good: list[Decoded] = []
        failures: list[Failure] = []
        for record in inputs:
            item = decode(record, settings.max_text_chars)
            (good if isinstance(item, Decoded) else failures).append(item)  # type: ignore[arg-type]
        classified, poisoned = classify_isolating(self.classifier.classify, good)
        for item, exc in poisoned:
            failures.append(Failure(item.record, Stage.CLASSIFY, type(exc).__name__, str(exc)))
            log.warning(
                "record failed classification",
                topic=item.record.topic(),
                partition=item.record.partition(),
                offset=item.record.offset(),
                id=item.id,
                error=type(exc).__name__,
            )
        for item, prediction in classified:
            outputs.append(verdict(item, prediction, self._model_ref, settings.output_topic, now))
            result.labels[prediction.label] = result.labels.get(prediction.label, 0) + 1
        for failure in failures:
            outputs.append(
                dead_letter(
                    failure,
                    settings.dlq_topic,
                    settings.group_id,
                    now,
                    self.classifier.version,
                )
            )
            log.info(
                "record dead-lettered",
                topic=failure.record.topic(),
                partition=failure.record.partition(),
                offset=failure.record.offset(),
                stage=failure.stage.value,
                error=failure.exception_class,
            )
        # Keep each partition's outputs in input order (verdict order follows the input).
        outputs.sort(key=lambda out: (out.source.partition(), out.source.offset()))
        undelivered = self._deliver(outputs)
        result.records = len(inputs)
        result.verdicts = len(classified)
        result.dead_letters = len(failures)
        result.undelivered = len(undelivered)
        self._settle(inputs, undelivered)
        self._add_totals(result)
        return result

    def _add_totals(self, result: BatchResult) -> None:
        totals = self.totals
        totals.records += result.records
        totals.verdicts += result.verdicts
        totals.dead_letters += result.dead_letters
        totals.undelivered += result.undelivered
        for label, count in result.labels.items():
            totals.labels[label] = totals.labels.get(label, 0) + count

    def _deliver(self, outputs: Sequence[OutRecord]) -> dict[TopicPartitionKey, int]:
        """Produce every output and wait for its acknowledgement. Returns, per partition,
        the lowest input offset whose output was not acknowledged."""
        undelivered: dict[TopicPartitionKey, int] = {}

        def failed(source: KafkaRecord, error: KafkaError) -> None:
            key = (str(source.topic()), int(source.partition() or 0))
            offset = int(source.offset() or 0)
            undelivered[key] = min(offset, undelivered.get(key, offset))
            log.error(
                "delivery failed",
                topic=key[0],
                partition=key[1],
                offset=offset,
                error=error.str(),
                retriable=error.retriable(),
            )

        for out in outputs:
            callback = _delivery_callback(out.source, failed)
            kwargs: dict[str, Any] = {"key": out.key, "value": out.value, "on_delivery": callback}
            if out.headers:
                kwargs["headers"] = out.headers
            if out.timestamp is not None:
                kwargs["timestamp"] = out.timestamp
            while True:
                try:
                    self.producer.produce(out.topic, **kwargs)
                    break
                except BufferError:
                    # The local queue is full: serve delivery reports until there is room.
                    self.producer.poll(0.1)
                except KafkaException as exc:
                    failed(out.source, exc.args[0])
                    break
        while self.producer.flush(1.0) > 0:
            log.warning("waiting for the broker to acknowledge verdicts")
        return undelivered

    def _settle(
        self, inputs: Sequence[KafkaRecord], undelivered: dict[TopicPartitionKey, int]
    ) -> None:
        """Advance each partition to the first unacknowledged record and commit."""
        ends: dict[TopicPartitionKey, int] = {}
        for record in inputs:
            key = (str(record.topic()), int(record.partition() or 0))
            ends[key] = max(ends.get(key, -1), int(record.offset() or 0) + 1)
        for key, end in ends.items():
            if key not in self.assigned:
                continue  # lost while the batch ran: its new owner redoes it
            first_failed = undelivered.get(key)
            if first_failed is None:
                self._finished[key] = end
                continue
            self._finished[key] = max(self._finished.get(key, 0), first_failed)
            # Rewind so the record and those after it are tried again; back off a little
            # so an undeliverable record does not spin the loop.
            self.consumer.seek(TopicPartition(key[0], key[1], first_failed))
            time.sleep(0.5)
        self._commit_finished(set(ends), asynchronous=True)

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
            return
        if not asynchronous:
            for tp in offsets:
                self._committed[(tp.topic, tp.partition)] = tp.offset

    # -- callbacks ---------------------------------------------------------------------

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None:
            log.warning("commit failed", error=error.str())
            return
        for tp in partitions:
            if tp.error is None and tp.offset >= 0:
                self._committed[(tp.topic, tp.partition)] = tp.offset

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.assigned.update((tp.topic, tp.partition) for tp in partitions)
        log.info("partitions assigned", partitions=sorted(tp.partition for tp in partitions))

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        # Batches finish before the next consume(), so nothing is in flight here: commit
        # what is finished, or the partition's next owner would redo it.
        self._commit_finished(keys, asynchronous=False)
        self._forget(keys)
        log.info("partitions revoked", partitions=sorted(p for _, p in keys))

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        # Another member may own these already: committing could move its offsets backwards.
        self._forget(keys)
        log.warning("partitions lost", partitions=sorted(p for _, p in keys))

    def _forget(self, keys: set[TopicPartitionKey]) -> None:
        self.assigned.difference_update(keys)
        for key in keys:
            self._finished.pop(key, None)
            self._committed.pop(key, None)

    def _on_consume_error(self, error: KafkaError) -> None:
        log.error("consume error", error=error.str(), fatal=error.fatal())
        if error.fatal():
            raise KafkaException(error)


def _delivery_callback(
    source: KafkaRecord, failed: Callable[[KafkaRecord, KafkaError], None]
) -> Callable[[KafkaError | None, Any], None]:
    def on_delivery(error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            failed(source, error)

    return on_delivery
