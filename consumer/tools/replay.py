"""`content-classifier replay-dlq`: send dead letters back to the input topic.

After the cause of a failure is fixed (a model that crashed on some input, a producer that
sent a wrong field), the dead letters can be classified again. Each is re-published with its
original key, value and headers (the `__classifier.errors.*` headers are dropped), and the
replay's own consumer group commits its position once the input topic has acknowledged them,
so running it twice does not send the same dead letter twice.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from consumer.config.settings import Settings
from consumer.contracts.messages import DLQ_HEADER_PREFIX, DeadLetterHeader
from consumer.stream.clients import producer_properties

__all__ = ["ReplayError", "ReplayResult", "replay_dead_letters"]


class ReplayError(RuntimeError):
    """The replay could not read or deliver; nothing was committed."""


@dataclass(slots=True)
class ReplayResult:
    read: int = 0
    replayed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    by_stage: Counter[str] = field(default_factory=Counter)


Headers = list[tuple[str, bytes | None]]


def _stage_of(headers: Headers) -> str:
    for name, value in headers:
        if name == DeadLetterHeader.STAGE.value and value is not None:
            return value.decode("utf-8", "replace")
    return "unknown"


def replay_dead_letters(
    settings: Settings,
    *,
    stages: set[str] | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    idle_s: float = 5.0,
) -> ReplayResult:
    """Replay dead letters from `DLQ_TOPIC` to `INPUT_TOPIC` until none arrives for `idle_s`
    seconds (or `limit` are replayed)."""
    group = f"{settings.group_id}.replay-dlq"
    consumer = Consumer(
        {
            **settings.common_client_config(),
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer(
        {**producer_properties(settings), "enable.idempotence": True, "acks": "all"}
    )
    result = ReplayResult()
    failures: list[str] = []
    _assign_from_committed(consumer, settings.dlq_topic)
    last_seen = time.monotonic()
    positions: dict[tuple[str, int], int] = {}
    try:
        while time.monotonic() - last_seen < idle_s:
            if limit is not None and result.replayed >= limit:
                break
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    failures.append(error.str())
                continue
            last_seen = time.monotonic()
            result.read += 1
            headers: Headers = list(message.headers() or [])  # type: ignore[arg-type]
            stage = _stage_of(headers)
            if stages and stage not in stages:
                result.skipped["other stage"] += 1
            elif message.value() is None:
                # A tombstone, or a reduced dead letter (stage produce): nothing to classify.
                result.skipped["no value"] += 1
            else:
                result.by_stage[stage] += 1
                result.replayed += 1
                if not dry_run:
                    _republish(producer, settings.input_topic, message, headers, failures)
            positions[(str(message.topic()), int(message.partition() or 0))] = (
                int(message.offset() or 0) + 1
            )
        if dry_run:
            return result
        if producer.flush(60) > 0 or failures:
            raise ReplayError(
                f"replay incomplete: {len(failures)} failures"
                + (f" ({failures[0]})" if failures else "")
                + "; nothing was committed, so the next replay starts from the same place"
            )
        if positions:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in positions.items()],
                asynchronous=False,
            )
        return result
    finally:
        consumer.close()


def _assign_from_committed(consumer: Consumer, topic: str) -> None:
    """Read every partition from the replay group's committed position (or the beginning).
    Assigning directly, rather than joining a group, starts at once."""
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise ReplayError(f"dead-letter topic {topic} does not exist")
    partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
    committed = consumer.committed(partitions, timeout=10)
    consumer.assign(
        [
            TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
            for tp in committed
        ]
    )


def _republish(
    producer: Producer,
    topic: str,
    message: Any,
    headers: list[tuple[str, bytes | None]],
    failures: list[str],
) -> None:
    original = [(k, v) for k, v in headers if not k.startswith(DLQ_HEADER_PREFIX)]

    def on_delivery(error: KafkaError | None, _msg: Any) -> None:
        if error is not None:
            failures.append(error.str())

    kwargs: dict[str, Any] = {
        "key": message.key(),
        "value": message.value(),
        "on_delivery": on_delivery,
    }
    if original:
        kwargs["headers"] = original
    while True:
        try:
            producer.produce(topic, **kwargs)
            break
        except BufferError:
            producer.poll(0.1)
    producer.poll(0)
