"""Property-based fuzzing of decode and validation: any bytes give exactly one outcome.

Values are encoded with the standard library so that they include what orjson itself would
not write (integers beyond 64 bits, for one)."""

from __future__ import annotations

import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.contracts.messages import ContentMessage, Verdict
from consumer.model.classifier import Prediction
from consumer.stream.codec import Decoded, Failure, dead_letter, decode, verdict_values
from tests.fakes import FakeMessage

LIMIT = 200

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
messages = st.fixed_dictionaries(
    {"text": st.one_of(st.text(max_size=2 * LIMIT), json_values)},
    optional={
        "id": st.one_of(st.text(max_size=300), json_values),
        "metadata": st.one_of(st.dictionaries(st.text(), st.text(), max_size=3), json_values),
        "source": json_values,
        "created_at": st.one_of(st.datetimes().map(lambda d: d.isoformat()), json_values),
    },
)


def check_one_outcome(value: bytes | None) -> Decoded | Failure:
    record = FakeMessage(value, _key=b"k", _headers=[("h", b"v")])
    result = decode(record, LIMIT)
    assert isinstance(result, Decoded | Failure)
    if isinstance(result, Decoded):
        assert result.text.strip() and len(result.text) <= LIMIT
        assert isinstance(result.id, str) and 0 < len(result.id) <= 256
    else:
        assert result.reason and result.exception_class
        out = dead_letter(result, "dlq", "g", "2026-11-25T00:00:00.000Z", "1")
        assert out.value == value and out.key == b"k"
        assert all(isinstance(v, bytes) for _, v in (out.headers or [])[1:])
    return result


@given(st.binary(max_size=512))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_give_exactly_one_outcome(value: bytes) -> None:
    check_one_outcome(value)


@given(json_values)
@settings(max_examples=300)
def test_any_json_gives_exactly_one_outcome(value: object) -> None:
    check_one_outcome(json.dumps(value).encode())


@given(messages)
@settings(max_examples=500)
def test_message_shaped_json_is_accepted_exactly_when_the_contract_allows(message: dict) -> None:
    result = check_one_outcome(json.dumps(message).encode())
    text = message["text"]
    valid_text = isinstance(text, str) and bool(text.strip()) and len(text) <= LIMIT
    if not valid_text:
        assert isinstance(result, Failure)
    if isinstance(result, Decoded):
        parsed = ContentMessage.model_validate(message)
        assert result.text == parsed.text
        assert result.id == (parsed.id or "in:0:0")


@given(st.text(max_size=64), st.binary(max_size=64))
def test_random_bytes_around_a_valid_message(prefix: str, suffix: bytes) -> None:
    check_one_outcome(prefix.encode() + b'{"text": "hello"}' + suffix)


def both_paths(value: bytes | None, limit: int = LIMIT) -> tuple[object, object]:
    record = FakeMessage(value, _key=b"k")
    return decode(record, limit), decode(record, limit, fast=False)


@given(messages)
@settings(max_examples=800)
def test_the_fast_path_agrees_with_the_contract_on_message_shaped_json(message: dict) -> None:
    fast, reference = both_paths(json.dumps(message).encode())
    assert fast == reference


@given(json_values)
@settings(max_examples=300)
def test_the_fast_path_agrees_with_the_contract_on_any_json(value: object) -> None:
    fast, reference = both_paths(json.dumps(value).encode())
    assert fast == reference


@given(
    st.fixed_dictionaries(
        {"text": st.text(alphabet=" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u3000ab")},
        optional={"id": st.text(min_size=250, max_size=260)},
    )
)
def test_the_fast_path_agrees_on_whitespace_and_length_bounds(message: dict) -> None:
    fast, reference = both_paths(json.dumps(message).encode())
    assert fast == reference


labels_strategy = st.lists(st.text(max_size=12), min_size=2, max_size=4, unique=True)
probabilities = st.floats(min_value=0.0, max_value=1.0).map(lambda p: round(p, 6))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    labels=labels_strategy,
    data=st.data(),
    ident=st.text(max_size=40),
    topic=st.text(min_size=1, max_size=20),
    name=st.text(max_size=10),
    version=st.text(max_size=10),
    partition=st.integers(0, 2**31 - 1),
    offset=st.integers(0, 2**63 - 1),
    action=st.one_of(st.none(), st.sampled_from(["allow", "review", "block", "50%"])),
)
def test_verdict_values_hold_the_fields_and_the_contract(
    labels: list[str],
    data: st.DataObject,
    ident: str,
    topic: str,
    name: str,
    version: str,
    partition: int,
    offset: int,
    action: str | None,
) -> None:
    """Any id, label, model name or topic (JSON escapes, any Unicode) and any probability
    gives a verdict with exactly those fields that the contract accepts."""
    scores = {label: data.draw(probabilities) for label in labels}
    label = data.draw(st.sampled_from(labels))
    kinds = data.draw(
        st.one_of(st.none(), st.dictionaries(st.text(min_size=1, max_size=12), probabilities))
    )
    category = data.draw(st.sampled_from([None, *sorted(kinds or {})]))
    prediction = Prediction(label, scores[label], scores, action, "model", kinds, category)
    model = {"name": name, "version": version}
    origin = data.draw(st.one_of(st.none(), st.text(max_size=20)))
    metadata = data.draw(
        st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.text(max_size=8)))
    )
    input_headers = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(["traceparent", "TraceState", "x-other", "x-request-id"]),
                st.one_of(st.none(), st.binary(max_size=20)),
            ),
            max_size=5,
        )
    )
    record = FakeMessage(
        b"{}", _topic=topic, _partition=partition, _offset=offset, _headers=input_headers
    )
    at = "2026-12-01T00:00:00.123Z"
    carry = frozenset({"traceparent", "tracestate", "x-request-id"})
    [(source, key, value, produced_label, headers)] = verdict_values(
        [(Decoded(record, "text", ident, origin, metadata), prediction)], model, at, carry=carry
    )
    expected = {
        "id": ident,
        "label": label,
        "score": scores[label],
        "scores": scores,
        "action": action,
        "categories": kinds,
        "category": category,
        "model": model,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "classified_at": at,
        "policy": "model",
    }
    if origin is not None:
        expected["input_source"] = origin
    if metadata is not None:
        expected["metadata"] = metadata
    assert orjson.loads(value) == expected
    assert (source, key, produced_label) == (record, ident.encode(), label)
    kept = [(name, v) for name, v in input_headers if name != "x-other"]
    assert headers == (kept or None)
    Verdict.model_validate_json(value)
