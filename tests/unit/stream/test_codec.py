from __future__ import annotations

import orjson
import pytest

from consumer.contracts.messages import Stage, Verdict
from consumer.model.classifier import Prediction
from consumer.stream.codec import Decoded, Failure, dead_letter, decode, verdict
from tests.fakes import FakeMessage

LIMIT = 100


def msg(value: bytes | None, **kwargs: object) -> FakeMessage:
    return FakeMessage(value, _topic="content.raw", _partition=2, _offset=41, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "stage"),
    [
        (None, Stage.DECODE),
        (b"", Stage.DECODE),
        (b"{", Stage.DECODE),
        (b"\xff\xfe", Stage.DECODE),
        (b'{"text": "\xed\xa0\x80"}', Stage.DECODE),  # a lone surrogate in UTF-8
        (b"[1, 2]", Stage.VALIDATE),
        (b'"just a string"', Stage.VALIDATE),
        (b"null", Stage.VALIDATE),
        (b"{}", Stage.VALIDATE),
        (b'{"text": null}', Stage.VALIDATE),
        (b'{"text": 12}', Stage.VALIDATE),
        (b'{"text": ["a"]}', Stage.VALIDATE),
        (b'{"text": "  "}', Stage.VALIDATE),
        (b'{"text": "ok", "id": 5}', Stage.VALIDATE),
        (b'{"text": "ok", "id": ""}', Stage.VALIDATE),
        (b'{"text": "ok", "metadata": {"a": 1}}', Stage.VALIDATE),
        (b'{"text": "ok", "created_at": "yesterday"}', Stage.VALIDATE),
        (orjson.dumps({"text": "x" * (LIMIT + 1)}), Stage.VALIDATE),
        (orjson.dumps({"text": "ok", "id": "i" * 257}), Stage.VALIDATE),
    ],
)
def test_bad_values_fail_at_the_right_stage(value: bytes | None, stage: Stage) -> None:
    result = decode(msg(value), LIMIT)
    assert isinstance(result, Failure)
    assert result.stage is stage
    assert result.reason


def test_failure_reasons_never_quote_the_text() -> None:
    secret = "my-very-private-words " * 10
    result = decode(msg(orjson.dumps({"text": secret})), LIMIT)
    assert isinstance(result, Failure)
    assert "private" not in result.reason
    assert "more than the limit" in result.reason


def test_a_value_over_the_byte_limit_fails_before_it_is_parsed() -> None:
    # Invalid JSON over the limit: a parse would say JSONDecodeError; the size check comes first.
    value = b'{"text": "' + b"private words " * 10
    result = decode(msg(value), LIMIT, max_value_bytes=len(value) - 1)
    assert isinstance(result, Failure)
    assert (result.stage, result.exception_class) == (Stage.DECODE, "ValueTooLarge")
    assert f"{len(value)} bytes" in result.reason and "MAX_VALUE_BYTES" in result.reason
    assert "private" not in result.reason
    at_limit = orjson.dumps({"text": "ok"})
    assert isinstance(decode(msg(at_limit), LIMIT, max_value_bytes=len(at_limit)), Decoded)


def test_the_byte_limit_is_checked_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    import consumer.stream.codec

    def never(_: bytes) -> object:
        raise AssertionError("an over-limit value was parsed")

    monkeypatch.setattr(consumer.stream.codec.orjson, "loads", never)
    result = decode(msg(orjson.dumps({"text": "x" * 200})), LIMIT, max_value_bytes=100)
    assert isinstance(result, Failure) and result.exception_class == "ValueTooLarge"


def test_id_defaults_to_topic_partition_offset() -> None:
    result = decode(msg(b'{"text": "hello"}'), LIMIT)
    assert isinstance(result, Decoded)
    assert result.id == "content.raw:2:41"
    result = decode(msg(b'{"text": "hello", "id": "abc", "unknown": 1}'), LIMIT)
    assert isinstance(result, Decoded)
    assert (result.id, result.text) == ("abc", "hello")


def test_verdict_is_keyed_by_the_input_key_or_the_id() -> None:
    prediction = Prediction("benign", 0.8, {"benign": 0.8, "malicious": 0.2}, "allow")
    model = {"name": "m", "version": "1"}
    keyed = decode(msg(b'{"text": "hi", "id": "x1"}', _key=b"user-7"), LIMIT)
    unkeyed = decode(msg(b'{"text": "hi"}'), LIMIT)
    assert isinstance(keyed, Decoded) and isinstance(unkeyed, Decoded)
    out = verdict(keyed, prediction, model, "content.verdicts", "2026-11-25T00:00:00.000Z")
    assert out.key == b"user-7"
    assert out.topic == "content.verdicts"
    body = Verdict.model_validate_json(out.value or b"")
    assert body.id == "x1"
    assert body.source is not None
    assert (body.source.topic, body.source.partition, body.source.offset) == ("content.raw", 2, 41)
    assert (body.label, body.score, body.action) == ("benign", 0.8, "allow")
    out = verdict(unkeyed, prediction, model, "content.verdicts", "2026-11-25T00:00:00.000Z")
    assert out.key == b"content.raw:2:41"


def test_dead_letter_keeps_the_record_and_adds_error_headers() -> None:
    original_headers = [("trace", b"abc"), ("empty", None)]
    record = msg(b"\xff not json", _key=b"k1", _headers=original_headers, _timestamp=(1, 1234))
    failure = decode(record, LIMIT)
    assert isinstance(failure, Failure)
    out = dead_letter(failure, "content.dlq", "group-a", "2026-11-25T00:00:00.000Z", "3.1")
    assert (out.topic, out.key, out.value, out.timestamp) == (
        "content.dlq",
        b"k1",
        b"\xff not json",
        1234,
    )
    assert out.headers is not None
    assert out.headers[:2] == original_headers
    added = {name: value for name, value in out.headers[2:]}
    assert added == {
        "__classifier.errors.topic": b"content.raw",
        "__classifier.errors.partition": b"2",
        "__classifier.errors.offset": b"41",
        "__classifier.errors.stage": b"decode",
        "__classifier.errors.exception.class.name": b"JSONDecodeError",
        "__classifier.errors.exception.message": failure.reason.encode(),
        "__classifier.errors.group.id": b"group-a",
        "__classifier.errors.failed_at": b"2026-11-25T00:00:00.000Z",
    }, "model.version is only added at stage classify"


def test_classify_dead_letter_carries_the_model_version() -> None:
    record = msg(b'{"text": "boom"}', _timestamp=(0, -1))
    failure = Failure(record, Stage.CLASSIFY, "RuntimeError", "model raised")
    out = dead_letter(failure, "dlq", "g", "t", "3.1")
    assert out.headers is not None
    assert ("__classifier.errors.model.version", b"3.1") in out.headers
    assert ("__classifier.errors.stage", b"classify") in out.headers
    assert out.timestamp is None, "a record without a timestamp keeps none"


def test_the_corpus_decodes_the_same_on_the_fast_path_and_the_contract() -> None:
    from tests.corpus import MALFORMED, ODD_BUT_VALID

    for value in [*MALFORMED.values(), *ODD_BUT_VALID.values()]:
        record = msg(value)
        assert decode(record, 10_000) == decode(record, 10_000, fast=False), (value or b"")[:40]


def test_a_usual_message_skips_the_pydantic_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the contract model was built for a usual message")

    monkeypatch.setattr("consumer.stream.codec.ContentMessage.model_validate", refuse)
    value = orjson.dumps({"text": "hello", "id": "a1", "source": "s", "metadata": {"k": "v"}})
    result = decode(msg(value), LIMIT)
    assert isinstance(result, Decoded)
    assert (result.text, result.id) == ("hello", "a1")


def test_the_fast_path_bounds_follow_the_contract() -> None:
    from annotated_types import MaxLen

    from consumer.contracts.messages import ContentMessage
    from consumer.stream import codec

    bounds = [
        m.max_length for m in ContentMessage.model_fields["id"].metadata if isinstance(m, MaxLen)
    ]
    assert bounds == [codec._MAX_ID_CHARS]
