"""The HTTP API's bodies (`content-classifier serve`, paths under `/v1`): the request of
`POST /v1/classify` and `POST /v1/explain`, their answers, and the error body of every
error. Their JSON Schemas are files in `schemas/` and the component schemas of the API's
OpenAPI document (`/openapi.json`), both generated from these models.

The server reads a request by hand (`consumer.serve.app.parse_request`, for its messages and
its speed); these models say the same in JSON Schema and validate alike, which tests check.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from consumer.contracts.messages import Verdict

__all__ = [
    "API_VERSION",
    "NOT_BLANK",
    "ClassifyRequest",
    "ClassifyResponse",
    "ErrorBody",
    "ErrorDetail",
    "ExplainResponse",
    "Feature",
]

#: The version of the API's contract (the OpenAPI document's `info.version`): a field added
#: is a minor version; a change that breaks a caller is a new path prefix (`/v2`).
API_VERSION = "1.0.0"

#: One character that `str.strip()` keeps: a text holding one is not empty after trimming.
#: Python's whitespace written out, so that an ECMA-262 validator (JSON Schema's dialect of
#: regular expressions, whose `\s` differs) and Python's `re` read the class alike.
NOT_BLANK = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

_COMMENT: JsonDict = {"$comment": f"content-classifier HTTP API {API_VERSION}"}

Text = Annotated[StrictStr, Field(min_length=1, pattern=NOT_BLANK)]


def _request_rules(schema: dict[str, Any]) -> None:
    """What the fields alone cannot say: exactly one of `text` and `texts`; a string `id`
    only beside `text`. And no `default: null`: an absent field is absent, and `text` and
    `texts` may not be null."""
    schema["$comment"] = _COMMENT["$comment"]
    for field in schema["properties"].values():
        field.pop("default", None)
    schema["oneOf"] = [{"required": ["text"]}, {"required": ["texts"]}]
    schema["if"] = {"properties": {"id": {"type": "string"}}, "required": ["id"]}
    schema["then"] = {"required": ["text"]}


class ClassifyRequest(BaseModel):
    """The body of `POST /v1/classify` and `POST /v1/explain`: one text (`text`, with an
    optional `id`) or several (`texts`), with the optional `source` and `metadata` of an
    input message. Unknown fields are ignored. A server bounds the characters a text, the
    texts a request and the bytes a body (413 beyond): its OpenAPI document says how far."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        title="ClassifyRequest",
        json_schema_extra=_request_rules,
    )

    text: Text | SkipJsonSchema[None] = Field(
        None, description="One text to classify: not empty after trimming whitespace."
    )
    texts: Annotated[list[Text], Field(min_length=1)] | SkipJsonSchema[None] = Field(
        None, description="Several texts to classify, each not empty after trimming whitespace."
    )
    id: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="With `text`: the verdict's id. Without it, verdicts get "
        "`http:<request>:<index>`.",
    )
    source: StrictStr | None = Field(
        None,
        description="Where the content came from: carried into the verdicts (`input_source`) "
        "and choosing the policy, as an input message's `source` does.",
    )
    metadata: dict[StrictStr, StrictStr] | None = Field(
        None, description="Free-form string attributes, passed into the verdicts untouched."
    )

    @field_validator("text", "texts", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # given as null; an absent field keeps its default unvalidated
            raise ValueError("must be given as a string or a list of strings, not null")
        return value

    @model_validator(mode="after")
    def _one_kind_of_text(self) -> ClassifyRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of `text` and `texts`")
        if self.id is not None and self.text is None:
            raise ValueError("`id` goes with `text`")
        return self


class ClassifyResponse(BaseModel):
    """The answer of `POST /v1/classify`: a verdict a text, in the request's order."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, title="ClassifyResponse", json_schema_extra=_COMMENT
    )

    verdicts: list[Verdict] = Field(
        description="The verdicts in the verdict schema, without `source` (no Kafka record)."
    )


class Feature(BaseModel):
    """A feature of the text (a word or a word pair) and its contribution to the decision
    score: positive towards the positive label, negative away from it."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Feature")

    feature: str
    weight: float


class ExplainResponse(BaseModel):
    """The answer of `POST /v1/explain`: the verdicts and, for a linear model, the features
    that pushed each text's score most."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, title="ExplainResponse", json_schema_extra=_COMMENT
    )

    verdicts: list[Verdict] = Field(
        description="The verdicts in the verdict schema, without `source` (no Kafka record)."
    )
    explainable: bool = Field(description="Whether the model has per-feature weights.")
    explanations: list[list[Feature] | None] = Field(
        description="A list a text, strongest first; null a text for a model that is not "
        "explainable."
    )


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, title="ErrorDetail")

    status: int = Field(ge=400, le=599, description="The response's status code.")
    message: str = Field(description="What was wrong, for a person to read.")


class ErrorBody(BaseModel):
    """The body of every error the API answers, whatever its status."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, title="Error", json_schema_extra=_COMMENT
    )

    error: ErrorDetail
