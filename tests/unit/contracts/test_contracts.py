from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from consumer.contracts.messages import (
    MAX_TEXT_CHARS_CONTEXT,
    ContentMessage,
    DeadLetterHeader,
    Verdict,
)
from consumer.contracts.schemas import SCHEMA_DIR, render_schemas


def test_committed_schemas_match_the_models() -> None:
    rendered = render_schemas()
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(rendered)
    for name, content in rendered.items():
        assert (SCHEMA_DIR / name).read_bytes() == content, (
            f"schemas/{name} is out of date: run `content-classifier schemas`"
        )


def test_message_schema_accepts_what_the_model_accepts() -> None:
    schema = json.loads((SCHEMA_DIR / "content-message.schema.json").read_text())
    good = {"text": "hi", "id": "a1", "source": "chat", "metadata": {"k": "v"}, "extra": 1}
    jsonschema.validate(good, schema)
    ContentMessage.model_validate(good)
    for bad in ({"id": "x"}, {"text": 5}, {"text": "x", "metadata": {"k": 1}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        with pytest.raises(ValidationError):
            ContentMessage.model_validate(bad)


def test_unknown_fields_are_ignored() -> None:
    message = ContentMessage.model_validate({"text": "hi", "future_field": [1, 2]})
    assert message.text == "hi"
    assert not hasattr(message, "future_field")


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_text_must_be_non_empty_after_trimming(text: str) -> None:
    with pytest.raises(ValidationError, match="text"):
        ContentMessage.model_validate({"text": text})


def test_text_limit_comes_from_the_context() -> None:
    ContentMessage.model_validate({"text": "x" * 10}, context={MAX_TEXT_CHARS_CONTEXT: 10})
    with pytest.raises(ValidationError, match="more than the limit of 10"):
        ContentMessage.model_validate({"text": "x" * 11}, context={MAX_TEXT_CHARS_CONTEXT: 10})


def test_id_is_bounded() -> None:
    ContentMessage.model_validate({"text": "x", "id": "i" * 256})
    with pytest.raises(ValidationError):
        ContentMessage.model_validate({"text": "x", "id": "i" * 257})


def test_verdict_schema_requires_the_contract_fields() -> None:
    schema = json.loads((SCHEMA_DIR / "verdict.schema.json").read_text())
    assert set(schema["required"]) >= {"id", "label", "score", "scores", "model"}
    # `source` is the input record: optional since 1.4.0, for verdicts served over HTTP.
    assert "source" in schema["properties"]
    verdict = Verdict.model_validate(
        {
            "id": "t:0:1",
            "label": "benign",
            "score": 0.9,
            "scores": {"benign": 0.9, "malicious": 0.1},
            "action": "allow",
            "model": {"name": "m", "version": "1"},
            "source": {"topic": "t", "partition": 0, "offset": 1},
            "classified_at": "2026-11-25T10:00:00.000Z",
        }
    )
    jsonschema.validate(json.loads(verdict.model_dump_json()), schema)


def test_dead_letter_header_names_are_the_contract() -> None:
    assert {h.value for h in DeadLetterHeader} == {
        "__classifier.errors.topic",
        "__classifier.errors.partition",
        "__classifier.errors.offset",
        "__classifier.errors.stage",
        "__classifier.errors.exception.class.name",
        "__classifier.errors.exception.message",
        "__classifier.errors.group.id",
        "__classifier.errors.failed_at",
        "__classifier.errors.model.version",
    }


def test_schemas_go_to_the_checkout_or_else_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consumer.contracts import schemas

    assert schemas.default_schema_dir() == SCHEMA_DIR  # this test runs in a checkout
    installed = tmp_path / "site-packages" / "schemas"  # no pyproject.toml beside it
    monkeypatch.setattr(schemas, "SCHEMA_DIR", installed)
    monkeypatch.chdir(tmp_path)
    written = schemas.write_schemas()
    assert {path.parent for path in written} == {tmp_path / "schemas"}
    assert not installed.exists()
