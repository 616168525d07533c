"""Failed outputs: each one is routed by its error, with the record it settles.

An output the broker will never accept as it is (too large, invalid) is replaced by a reduced
dead letter, and its batch stays unsettled until the replacement is acknowledged. Any other
failure fails its input record: the partition is rewound there and retried (`Offsets`). An
error that breaks the idempotent producer asks for a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from confluent_kafka import KafkaError

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.serving.verdicts import rfc3339_now
from consumer.stream.acks import AckTracker
from consumer.stream.codec import OutRecord, reduced_dead_letter, verdict_record
from consumer.stream.metrics import Metrics
from consumer.stream.ports import key_of

__all__ = ["Failures", "is_permanent"]

log = get_logger(__name__)

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


def is_permanent(error: KafkaError) -> bool:
    """True when the broker (or librdkafka) will never accept this record as it is."""
    return error.code() in _PERMANENT


class Failures:
    """The failed outputs of the batches in flight, their counts, and whether the producer
    must be replaced."""

    def __init__(
        self,
        settings: Settings,
        acks: AckTracker,
        metrics: Metrics,
        model_version: Callable[[], str],
    ) -> None:
        self._settings = settings
        self._acks = acks
        self._metrics = metrics
        #: The version of the model serving now (for the headers of reduced dead letters).
        self._model_version = model_version
        #: Outputs the broker rejected for good, to replace by reduced dead letters.
        self._rejected: list[tuple[OutRecord, KafkaError]] = []
        self.delivery_failures = 0
        #: Outputs that failed and were not replaced (their records are read again).
        self.undelivered = 0
        #: A fatal error hit the producer: `Delivery` replaces it (and resets this).
        self.producer_broken = False

    @property
    def rejected(self) -> bool:
        """Outputs wait for their reduced dead letters (`replacements`)."""
        return bool(self._rejected)

    def failed(self, out: OutRecord, error: KafkaError) -> None:
        """Route one failed output (a delivery report or an error from `produce`)."""
        self._count(error)
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
        self.undelivered += 1
        batch = out.batch
        if batch is not None and not batch.abandoned:
            batch.pending -= 1
            batch.kinds[out.kind] -= 1
            self._acks.fail(key_of(out.source), int(out.source.offset() or 0))

    def serve_verdict_reports(self) -> None:
        """Failed delivery reports of verdicts: find each one's record by its value."""
        errors = self._acks.errors
        output_topic = self._settings.output_topic
        while errors:
            batch, error, message = errors.pop(0)
            if batch.abandoned:
                continue
            produced = batch.verdict_of(message.value() if message is not None else None)
            if produced is not None:
                self.failed(verdict_record(produced, output_topic, batch), error)
                continue
            # Not found (no message to match): every record of the batch is done again.
            self._count(error)
            log.error("delivery failed", error=error.str(), output_topic=output_topic)
            self.undelivered += 1
            batch.pending -= 1
            self._acks.fail_batch(batch)

    def replacements(self) -> Iterator[OutRecord]:
        """The reduced dead letters of the outputs rejected for good, each in its batch's
        count in place of the output it replaces: produce each one as it comes (a rejection
        reported meanwhile waits for the next call)."""
        rejected, self._rejected = self._rejected, []
        now = rfc3339_now()
        settings = self._settings
        for out, error in rejected:
            replacement = reduced_dead_letter(
                out,
                error.str(),
                settings.dlq_topic,
                settings.group_id,
                now,
                self._model_version(),
            )
            batch = replacement.batch = out.batch
            if batch is not None:
                batch.kinds[out.kind] -= 1
                batch.kinds[replacement.kind] += 1
            yield replacement

    def _count(self, error: KafkaError) -> None:
        self.delivery_failures += 1
        self._metrics.delivery_failures.labels(str(is_permanent(error)).lower()).inc()
        if error.fatal() or error.code() in _PRODUCER_BROKEN:
            self.producer_broken = True
