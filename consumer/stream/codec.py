"""Decode and validate input records; build verdict and dead-letter records.

A failure is a value (`Failure`: the record, the stage, the reason) until the pipeline routes
it to the dead-letter topic. Reasons never quote the record's content: a dead letter already
carries the original bytes, and logs must not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from consumer.config.settings import TRACE_HEADERS
from consumer.contracts.messages import (
    MAX_TEXT_CHARS_CONTEXT,
    ContentMessage,
    DeadLetterHeader,
    Stage,
)
from consumer.model.classifier import Prediction
from consumer.serving.verdicts import verdict_body

__all__ = [
    "BatchLike",
    "Decoded",
    "Failure",
    "KafkaRecord",
    "OutRecord",
    "VerdictRecord",
    "carried",
    "dead_letter",
    "decode",
    "record_id",
    "reduced_dead_letter",
    "verdict",
    "verdict_record",
    "verdict_values",
]

Headers = list[tuple[str, bytes | None]]


class KafkaRecord(Protocol):
    """The part of confluent_kafka.Message the worker uses (unit tests pass fakes)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> Headers | None: ...
    def timestamp(self) -> tuple[int, int]: ...


class BatchLike(Protocol):
    """The outputs of one micro-batch in flight, as an output's delivery report settles them
    (`consumer.stream.acks.Batch`; a Protocol here so that encoding needs no ack tracking)."""

    #: Outputs produced and not yet acknowledged or failed.
    pending: int
    #: Acknowledged outputs by kind: ("verdict", label) or ("dead_letter", stage) -> count.
    kinds: Counter[tuple[str, str]]
    #: Its producer was replaced: its reports no longer count.
    abandoned: bool


#: A verdict to produce: (input record, key, value, label, headers carried from the input).
VerdictRecord = tuple[KafkaRecord, bytes, bytes, str, Headers | None]


@dataclass(slots=True)
class Decoded:
    record: KafkaRecord
    text: str
    id: str
    #: The message's `source` and `metadata` (what a policy per source is chosen by).
    source: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(slots=True)
class Failure:
    record: KafkaRecord
    stage: Stage
    exception_class: str
    reason: str


@dataclass(slots=True)
class OutRecord:
    """A record to produce, and the input record whose offset it settles."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    timestamp: int | None
    source: KafkaRecord
    #: A reduced dead letter (no value): the last resort, never replaced again.
    reduced: bool = False
    #: For metrics once acknowledged: ("verdict", label) or ("dead_letter", stage).
    kind: tuple[str, str] = ("", "")
    #: The batch whose count of outputs in flight its delivery report settles.
    batch: BatchLike | None = None


def record_id(record: KafkaRecord) -> str:
    return f"{record.topic()}:{record.partition()}:{record.offset()}"


def _describe(exc: ValidationError) -> str:
    """A validation error without the input values (they may be the content itself)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"]) or "value"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


#: ContentMessage's bound on `id` (kept in step by a unit test).
_MAX_ID_CHARS = 256


def _accept_fast(payload: dict[str, Any], max_text_chars: int) -> tuple[str, str | None] | None:
    """The usual, well-formed message checked by hand: (text, id); None for anything else,
    which the ContentMessage contract then decides (with its reasons). It accepts only what
    the contract accepts, without building a pydantic model per record; a property-based
    test checks that both agree."""
    text = payload.get("text")
    if type(text) is not str or not text or len(text) > max_text_chars or text.isspace():
        return None
    ident = payload.get("id")
    if ident is not None and (type(ident) is not str or not 0 < len(ident) <= _MAX_ID_CHARS):
        return None
    source = payload.get("source")
    if source is not None and type(source) is not str:
        return None
    metadata = payload.get("metadata")
    if metadata is not None and (
        type(metadata) is not dict or any(type(v) is not str for v in metadata.values())
    ):
        return None
    if payload.get("created_at") is not None:
        return None  # timestamps are rare here: the contract parses them
    return text, ident


def decode(
    record: KafkaRecord,
    max_text_chars: int,
    max_value_bytes: int | None = None,
    *,
    fast: bool = True,
) -> Decoded | Failure:
    """Parse a record's value as a ContentMessage, or say at which stage and why it failed.

    A value over `max_value_bytes` (MAX_VALUE_BYTES) fails before it is parsed: a hostile
    producer cannot make the worker build a huge object tree, whatever the JSON holds.
    `fast=False` skips the hand-checked path (the contract alone: the reference in tests)."""
    raw = record.value()
    if raw is None:
        return Failure(record, Stage.DECODE, "TombstoneRecord", "the value is null (tombstone)")
    if max_value_bytes is not None and len(raw) > max_value_bytes:
        return Failure(
            record,
            Stage.DECODE,
            "ValueTooLarge",
            f"the value has {len(raw)} bytes, more than the limit of {max_value_bytes} "
            "(MAX_VALUE_BYTES)",
        )
    try:
        payload: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson's message names the position and the problem (invalid UTF-8, bad syntax).
        return Failure(record, Stage.DECODE, type(exc).__name__, str(exc))
    if not isinstance(payload, dict):
        return Failure(
            record,
            Stage.VALIDATE,
            "ValidationError",
            f"value: the JSON is a {type(payload).__name__}, not an object",
        )
    if fast:
        accepted = _accept_fast(payload, max_text_chars)
        if accepted is not None:
            text, ident = accepted
            return Decoded(
                record,
                text,
                ident if ident is not None else record_id(record),
                payload.get("source"),
                payload.get("metadata"),
            )
    try:
        message = ContentMessage.model_validate(
            payload, context={MAX_TEXT_CHARS_CONTEXT: max_text_chars}
        )
    except ValidationError as exc:
        return Failure(record, Stage.VALIDATE, "ValidationError", _describe(exc))
    return Decoded(
        record,
        message.text,
        message.id or record_id(record),
        message.source,
        dict(message.metadata) if message.metadata is not None else None,
    )


def carried(headers: Headers | None, names: frozenset[str]) -> Headers | None:
    """The input headers a verdict carries: those whose name, in lower case, is in `names`
    (TRACE_HEADERS and CARRY_HEADERS), in their order; None when there are none."""
    if not headers:
        return None
    kept = [(name, value) for name, value in headers if name.lower() in names]
    return kept or None


def verdict_values(
    classified: Sequence[tuple[Decoded, Prediction]],
    model: dict[str, str],
    classified_at: str,
    extra: dict[str, Any] | None = None,
    carry: frozenset[str] = TRACE_HEADERS,
) -> list[VerdictRecord]:
    """(input record, key, value, label, headers) of each verdict: the worker's per-record
    hot path, so a plain tuple per record and one `orjson.dumps` (an `OutRecord` per record
    cost as much again). The key is the input's key, or its id when it has none. The input's
    `source` and `metadata` go into the value (`input_source`, `metadata`) when it has them,
    and the input headers named in `carry` into the verdict's headers. `extra` fields (a
    shadow verdict's `"shadow": true`) are added to every value."""
    dumps = orjson.dumps
    out = []
    for item, prediction in classified:
        record = item.record
        key = record.key()
        value = verdict_body(item.id, prediction, model, classified_at, item.source, item.metadata)
        value["source"] = {
            "topic": record.topic(),
            "partition": record.partition(),
            "offset": record.offset(),
        }
        if extra:
            value.update(extra)
        out.append(
            (
                record,
                key if key is not None else item.id.encode(),
                dumps(value),
                prediction.label,
                carried(record.headers(), carry),
            )
        )
    return out


def verdict(
    item: Decoded,
    prediction: Prediction,
    model: dict[str, str],
    output_topic: str,
    classified_at: str,
) -> OutRecord:
    """One verdict record (the worker encodes a batch at a time: `verdict_values`)."""
    [produced] = verdict_values([(item, prediction)], model, classified_at)
    return verdict_record(produced, output_topic)


def verdict_record(
    produced: VerdictRecord, output_topic: str, batch: BatchLike | None = None
) -> OutRecord:
    """The `OutRecord` of one of `verdict_values`' verdicts (made only where one is needed:
    a verdict that failed, or one sent alone)."""
    record, key, value, label, headers = produced
    return OutRecord(
        topic=output_topic,
        key=key,
        value=value,
        headers=headers,
        timestamp=None,
        source=record,
        kind=("verdict", label),
        batch=batch,
    )


def dead_letter(
    failure: Failure,
    dlq_topic: str,
    group_id: str,
    failed_at: str,
    model_version: str | None = None,
) -> OutRecord:
    """The original record byte for byte, plus the `__classifier.errors.*` headers."""
    record = failure.record
    headers: Headers = list(record.headers() or [])
    added: Sequence[tuple[DeadLetterHeader, str]] = [
        (DeadLetterHeader.TOPIC, str(record.topic())),
        (DeadLetterHeader.PARTITION, str(record.partition())),
        (DeadLetterHeader.OFFSET, str(record.offset())),
        (DeadLetterHeader.STAGE, failure.stage.value),
        (DeadLetterHeader.EXCEPTION_CLASS, failure.exception_class),
        (DeadLetterHeader.EXCEPTION_MESSAGE, failure.reason),
        (DeadLetterHeader.GROUP_ID, group_id),
        (DeadLetterHeader.FAILED_AT, failed_at),
    ]
    headers.extend((name.value, value.encode()) for name, value in added)
    if failure.stage is Stage.CLASSIFY and model_version is not None:
        headers.append((DeadLetterHeader.MODEL_VERSION.value, model_version.encode()))
    timestamp_type, timestamp = record.timestamp()
    return OutRecord(
        topic=dlq_topic,
        key=record.key(),
        value=record.value(),
        headers=headers,
        timestamp=timestamp if timestamp_type != 0 and timestamp >= 0 else None,
        source=record,
        kind=("dead_letter", failure.stage.value),
    )


#: Keys and headers up to this size stay in a reduced dead letter.
_REDUCED_KEEP_BYTES = 16_384


def reduced_dead_letter(
    rejected: OutRecord,
    reason: str,
    dlq_topic: str,
    group_id: str,
    failed_at: str,
    model_version: str | None,
) -> OutRecord:
    """The dead letter for a record whose verdict or dead letter the broker rejected for good
    (too large, invalid): the error headers and, where small, the key and original headers;
    never the value, which is what made it too large. Stage `produce`."""
    record = rejected.source
    value = record.value()
    size = 0 if value is None else len(value)
    kind = "dead letter" if rejected.topic == dlq_topic else "verdict"
    failure = Failure(
        record,
        Stage.PRODUCE,
        "KafkaError",
        f"the {kind} was rejected by the broker ({reason}); "
        f"this dead letter leaves out the record's value ({size} bytes)",
    )
    full = dead_letter(failure, dlq_topic, group_id, failed_at, model_version)
    key = record.key()
    original = record.headers() or []
    original_size = sum(len(k) + len(v or b"") for k, v in original)
    headers = full.headers or []
    if original_size > _REDUCED_KEEP_BYTES:
        headers = headers[len(original) :]
    return OutRecord(
        topic=dlq_topic,
        key=key if key is None or len(key) <= _REDUCED_KEEP_BYTES else None,
        value=None,
        headers=headers,
        timestamp=full.timestamp,
        source=record,
        reduced=True,
        kind=("dead_letter", Stage.PRODUCE.value),
    )
