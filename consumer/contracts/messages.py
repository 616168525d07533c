"""The contracts other teams build on: input message, verdict, dead-letter headers.

Changing a field here is a contract change: bump `CONTRACT_VERSION` and regenerate the
JSON Schema files in `schemas/` (`content-classifier schemas`); a test fails when they drift.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationInfo, field_validator

__all__ = [
    "CONTRACT_VERSION",
    "DLQ_HEADER_PREFIX",
    "ContentMessage",
    "DeadLetterHeader",
    "Feedback",
    "ModelRef",
    "SourceRef",
    "Stage",
    "Verdict",
]

#: 1.1.0 added the dead-letter stage `produce` (an output the broker rejected for good).
#: 1.2.0 bounds the input value's size (MAX_VALUE_BYTES): a larger value is dead-lettered at
#: stage `decode` with the exception class `ValueTooLarge`, before it is parsed.
#: 1.3.0 adds the verdict's `policy` (which policy set label and action: `model`, or a name
#: from POLICY_FILE) and its optional `shadow` (true on a shadow model's verdicts, which go to
#: SHADOW_OUTPUT_TOPIC, never to the verdict topic).
#: 1.4.0 carries the input's `source` and `metadata` into the verdict (`input_source`,
#: `metadata`), and W3C `traceparent`/`tracestate` plus CARRY_HEADERS into its headers; the
#: verdict's `source` (the input record) is absent on verdicts answered by `serve` over HTTP.
#: 1.5.0 adds the verdict's `categories` (the probability of each kind of harm the model
#: knows; null for a model that knows none) and `category` (the kind that decided a
#: non-benign label; null otherwise), and `language` (the text's language, ISO 639-1); a
#: moderator's decision (feedback) may name a `category`.
CONTRACT_VERSION = "1.5.0"
DLQ_HEADER_PREFIX = "__classifier.errors."
#: Validation context key: the longest text accepted (MAX_TEXT_CHARS).
MAX_TEXT_CHARS_CONTEXT = "max_text_chars"


class Stage(StrEnum):
    """Where a record failed: its dead letter's `__classifier.errors.stage`."""

    DECODE = "decode"
    VALIDATE = "validate"
    CLASSIFY = "classify"
    #: The verdict or dead letter was rejected for good by the broker (too large, invalid):
    #: the dead letter then carries the key and error headers, but not the value.
    PRODUCE = "produce"


class DeadLetterHeader(StrEnum):
    """Headers added to a dead letter, beside the original record's own headers."""

    TOPIC = DLQ_HEADER_PREFIX + "topic"
    PARTITION = DLQ_HEADER_PREFIX + "partition"
    OFFSET = DLQ_HEADER_PREFIX + "offset"
    STAGE = DLQ_HEADER_PREFIX + "stage"
    EXCEPTION_CLASS = DLQ_HEADER_PREFIX + "exception.class.name"
    EXCEPTION_MESSAGE = DLQ_HEADER_PREFIX + "exception.message"
    GROUP_ID = DLQ_HEADER_PREFIX + "group.id"
    FAILED_AT = DLQ_HEADER_PREFIX + "failed_at"
    MODEL_VERSION = DLQ_HEADER_PREFIX + "model.version"


class ContentMessage(BaseModel):
    """The value of an input record: a UTF-8 JSON object of at most MAX_VALUE_BYTES bytes
    (1 MiB by default); a larger value is dead-lettered at stage decode, unparsed."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        title="ContentMessage",
        json_schema_extra={"$comment": f"content-classifier contract {CONTRACT_VERSION}"},
    )

    text: StrictStr = Field(
        description="The content to classify: non-empty after trimming, at most "
        "MAX_TEXT_CHARS characters (10000 by default); longer text is dead-lettered.",
        min_length=1,
    )
    id: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="The producer's id; when absent the verdict's id is topic:partition:offset.",
    )
    source: StrictStr | None = Field(None, description="Where the content came from.")
    metadata: dict[StrictStr, StrictStr] | None = Field(
        None, description="Free-form string attributes, passed through untouched."
    )
    created_at: datetime | None = Field(
        None, description="When the content was created (RFC 3339)."
    )

    @field_validator("text")
    @classmethod
    def _text_present_and_bounded(cls, text: str, info: ValidationInfo) -> str:
        if not text.strip():
            raise ValueError("text is empty after trimming whitespace")
        limit = (info.context or {}).get(MAX_TEXT_CHARS_CONTEXT)
        if limit is not None and len(text) > limit:
            raise ValueError(f"text has {len(text)} characters, more than the limit of {limit}")
        return text


Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str


class SourceRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class Verdict(BaseModel):
    """The value of an output record; its key is the input key, or the id when there was none."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Verdict",
        json_schema_extra={"$comment": f"content-classifier contract {CONTRACT_VERSION}"},
    )

    id: str = Field(description="The input's id, or topic:partition:offset when it had none.")
    label: str = Field(description="The predicted label, e.g. benign or malicious.")
    score: Probability = Field(description="Probability of `label`.")
    scores: dict[str, Probability] = Field(description="Probability of every label.")
    action: str | None = Field(
        None, description="What the model's policy says to do: allow, review or block."
    )
    categories: dict[str, Probability] | None = Field(
        None,
        description="The probability of each kind of harm the model knows (for "
        "malicious-content: prompt_injection, hate_harassment, harmful_request); they sum to "
        "the probability of the non-benign label. Null for a model without categories.",
    )
    category: str | None = Field(
        None,
        description="The kind of harm that decided a non-benign label (the most probable "
        "one, decided by its own thresholds); null for a benign label or a model without "
        "categories.",
    )
    language: str | None = Field(
        None,
        description="The text's language as an ISO 639-1 code, or `und` when it cannot be "
        "told (short or mixed text); absent when language identification is off.",
    )
    model: ModelRef
    source: SourceRef | None = Field(
        None,
        description="The input record (topic, partition, offset); absent on verdicts "
        "answered over HTTP by `serve`, which have no record.",
    )
    classified_at: datetime = Field(description="When the verdict was made (RFC 3339, UTC).")
    policy: str | None = Field(
        None,
        description="The policy that set label and action: `model` (the model's own), "
        "`default` or a source value of the worker's POLICY_FILE.",
    )
    shadow: bool | None = Field(
        None,
        description="True on a shadow model's verdict (SHADOW_OUTPUT_TOPIC); absent on the "
        "verdicts downstream systems act on.",
    )
    input_source: str | None = Field(
        None, description="The input's `source`, when it had one (where the content came from)."
    )
    metadata: dict[str, str] | None = Field(
        None, description="The input's `metadata`, when it had any, passed through untouched."
    )


class Feedback(BaseModel):
    """A moderator's decision on a verdict, the value of a FEEDBACK_TOPIC record (UTF-8 JSON)."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        title="Feedback",
        json_schema_extra={"$comment": f"content-classifier contract {CONTRACT_VERSION}"},
    )

    id: StrictStr = Field(
        min_length=1, max_length=512, description="The `id` of the verdict the decision is on."
    )
    label: StrictStr = Field(
        min_length=1, description="The label the moderator decided: one of the verdict's labels."
    )
    category: StrictStr | None = Field(
        None,
        min_length=1,
        description="The kind of harm the moderator decided (one of the verdict's "
        "`categories`), when the label is not benign.",
    )
    decided_at: datetime | None = Field(None, description="When it was decided (RFC 3339).")
    source: SourceRef | None = Field(
        None,
        description="The input record the verdict is of (the verdict's `source`): lets "
        "`export-feedback` read the text without looking the verdict up.",
    )


def dead_letter_headers_schema() -> dict[str, Any]:
    """A JSON Schema of the headers a dead letter adds (header name -> UTF-8 string)."""
    required = [h.value for h in DeadLetterHeader if h is not DeadLetterHeader.MODEL_VERSION]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"content-classifier contract {CONTRACT_VERSION}",
        "title": "DeadLetterHeaders",
        "description": "Headers added to a dead letter beside the original record's own "
        "headers; every value is a UTF-8 string. model.version is present at stage classify.",
        "type": "object",
        "properties": {
            DeadLetterHeader.STAGE.value: {"enum": [s.value for s in Stage]},
            **{
                h.value: {"type": "string"}
                for h in DeadLetterHeader
                if h is not DeadLetterHeader.STAGE
            },
        },
        "required": required,
    }
