"""JSON Schema files generated from the contracts, for producers and consumers in any language:
the Kafka records' (input, verdict, dead letter, feedback) and the HTTP API's bodies, which
`serve` also embeds in its OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson

from consumer.contracts.api import ClassifyRequest, ClassifyResponse, ErrorBody, ExplainResponse
from consumer.contracts.messages import (
    ContentMessage,
    Feedback,
    Verdict,
    dead_letter_headers_schema,
)

__all__ = [
    "API_SCHEMAS",
    "SCHEMA_DIR",
    "default_schema_dir",
    "render_schemas",
    "schema_documents",
    "write_schemas",
]

#: The repository's `schemas/`: the committed files a test keeps in sync with the contracts.
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def default_schema_dir() -> Path:
    """The checkout's `schemas/` when running from one; an installed package has no
    repository to write into, so there it is `schemas/` in the current directory."""
    in_checkout = (SCHEMA_DIR.parent / "pyproject.toml").is_file()
    return SCHEMA_DIR if in_checkout else Path.cwd() / "schemas"


def _with_draft(schema: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


#: The files of the HTTP API's bodies (and the verdict they hold), in its OpenAPI document.
API_SCHEMAS = (
    "verdict.schema.json",
    "classify-request.schema.json",
    "classify-response.schema.json",
    "explain-response.schema.json",
    "error.schema.json",
)


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> the schema, as `render_schemas` writes it."""
    serialized: Literal["serialization"] = "serialization"  # what is written, not read
    return {
        "content-message.schema.json": _with_draft(ContentMessage.model_json_schema()),
        "verdict.schema.json": _with_draft(Verdict.model_json_schema(mode=serialized)),
        "dead-letter-headers.schema.json": dead_letter_headers_schema(),
        "feedback.schema.json": _with_draft(Feedback.model_json_schema()),
        "classify-request.schema.json": _with_draft(ClassifyRequest.model_json_schema()),
        "classify-response.schema.json": _with_draft(
            ClassifyResponse.model_json_schema(mode=serialized)
        ),
        "explain-response.schema.json": _with_draft(
            ExplainResponse.model_json_schema(mode=serialized)
        ),
        "error.schema.json": _with_draft(ErrorBody.model_json_schema(mode=serialized)),
    }


def render_schemas() -> dict[str, bytes]:
    """File name -> the schema's bytes, exactly as committed in `schemas/`."""
    return {
        name: orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        for name, doc in schema_documents().items()
    }


def write_schemas(directory: Path | None = None) -> list[Path]:
    directory = directory or default_schema_dir()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_schemas().items():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written
