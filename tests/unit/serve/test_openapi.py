"""The OpenAPI document: valid OpenAPI 3.1, its component schemas the files of `schemas/`
(their `$defs` put back), its examples valid, and a request schema that accepts exactly what
the server (and the pydantic model) accepts."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from consumer.contracts.api import NOT_BLANK, ClassifyRequest
from consumer.contracts.schemas import API_SCHEMAS, SCHEMA_DIR
from consumer.serve.app import Api, ApiError, ServeLimits, build_app, parse_request
from consumer.serve.batcher import Batcher
from consumer.serve.keys import ApiKeys
from consumer.serve.limits import RateLimiter
from consumer.serve.openapi import DEFS, REF, openapi_document, rerooted
from tests.fakes import fake_classifier

LIMITS = ServeLimits(max_texts=8, max_text_chars=50, max_body_bytes=4096, max_in_flight=7)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(LIMITS, keyed=True, rate_per_s=10)


def referenced(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from referenced(value)
    elif isinstance(node, list):
        for item in node:
            yield from referenced(item)


def as_file(name: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """The component `name` as a JSON Schema file: what it refers to back under `$defs`."""
    needed: dict[str, Any] = {}
    pending = [name]
    while pending:
        for ref in referenced(schemas[pending.pop()]):
            other = ref.removeprefix(REF)
            if other not in needed and other != name:
                needed[other] = rerooted(schemas[other], REF, DEFS)
                pending.append(other)
    file: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    file |= rerooted(schemas[name], REF, DEFS)
    if needed:
        file["$defs"] = needed
    return file


def test_the_component_schemas_are_the_contract_files(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for file_name in API_SCHEMAS:
        committed = json.loads((SCHEMA_DIR / file_name).read_text())
        assert as_file(committed["title"], schemas) == committed, file_name
    everything = set()
    for file_name in API_SCHEMAS:
        committed = json.loads((SCHEMA_DIR / file_name).read_text())
        everything |= {committed["title"], *committed.get("$defs", {})}
    assert set(schemas) == everything, "no component schema that is not in a file"


def test_the_document_is_valid_openapi_3_1_with_valid_json_schemas(
    document: dict[str, Any],
) -> None:
    schemathesis.openapi.from_dict(document).validate()
    assert document["openapi"] == "3.1.0"
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    broken = {**document, "paths": {"/v1/classify": {"post": {"responses": 200}}}}
    with pytest.raises(Exception, match="responses"):
        schemathesis.openapi.from_dict(broken).validate()


def media_types(node: Any) -> Iterator[dict[str, Any]]:
    """Every media type object (a `schema` beside `example` or `examples`) in the document."""
    if isinstance(node, dict):
        if "schema" in node and ("example" in node or "examples" in node):
            yield node
        for value in node.values():
            yield from media_types(value)


def test_every_example_is_valid(document: dict[str, Any]) -> None:
    found = list(media_types(document))
    assert len(found) >= 10
    for media in found:
        # The references are to the document's components: validate inside the document.
        validator = jsonschema.Draft202012Validator(
            {**media["schema"], "components": document["components"]},
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        examples = [e["value"] for e in media.get("examples", {}).values()]
        for value in [*examples, *([media["example"]] if "example" in media else [])]:
            validator.validate(value)


def test_every_error_the_api_answers_is_documented(document: dict[str, Any]) -> None:
    for path in ("/v1/classify", "/v1/explain"):
        operation = document["paths"][path]["post"]
        assert set(operation["responses"]) == {
            "200", "400", "401", "408", "413", "429", "500", "503"
        }  # fmt: skip
        assert operation["security"] == [{"bearer": []}, {"apiKey": []}]
    responses = document["components"]["responses"]
    for name in ("TooManyRequests", "Overloaded"):
        assert (
            responses[name]["headers"]["Retry-After"]["$ref"] == "#/components/headers/Retry-After"
        )
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "in": "header", "name": "X-API-Key"}


def test_an_open_server_documents_no_keys_and_no_rate() -> None:
    document = openapi_document(LIMITS, keyed=False)
    operation = document["paths"]["/v1/classify"]["post"]
    assert "security" not in operation and "securitySchemes" not in document["components"]
    assert {"401", "429"}.isdisjoint(operation["responses"])
    assert {"Unauthorized", "TooManyRequests"}.isdisjoint(document["components"]["responses"])


def test_the_server_s_limits_bound_the_request_schema(document: dict[str, Any]) -> None:
    body = document["components"]["requestBodies"]["ClassifyRequest"]
    [contract, bounds] = body["content"]["application/json"]["schema"]["allOf"]
    assert contract == {"$ref": REF + "ClassifyRequest"}
    assert bounds["properties"]["text"] == {"maxLength": 50}
    assert bounds["properties"]["texts"] == {"maxItems": 8, "items": {"maxLength": 50}}
    assert "4096 bytes" in body["description"]
    assert "7 requests" in document["components"]["responses"]["Overloaded"]["description"]


def served(api: Api) -> dict[str, Any]:
    async def scenario() -> httpx.Response:
        app = build_app(api, b"<html></html>", lambda: (b"", "text/plain"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/openapi.json")

    response = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def test_the_server_publishes_the_document_of_its_own_settings(tmp_path: Any) -> None:
    batcher = Batcher(fake_classifier(), max_texts=64)
    open_api = served(Api(batcher, None, None, LIMITS))
    assert open_api == openapi_document(LIMITS, keyed=False)
    (tmp_path / "keys").write_text("analyst:0123456789abcdef0123\n")
    keys = ApiKeys.load(tmp_path / "keys")
    keyed = served(Api(batcher, keys, RateLimiter(10, 20), LIMITS))
    assert keyed == openapi_document(LIMITS, keyed=True, rate_per_s=10)


def test_not_blank_is_python_s_whitespace_written_out() -> None:
    import re

    blank = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert not any(re.search(NOT_BLANK, c) for c in blank)
    assert all(re.search(NOT_BLANK, c) for c in ("a", "\x00", "\ufeff", "\u200b", "é"))
    assert all(("x" + c).strip() == "x" for c in blank)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=4,
)
TEXT = st.sampled_from(["hello", "", " ", "\t\n", "\x1c", "\ufeff", "\u3000a", "x" * 51])
FIELDS = {
    "text": TEXT | JSON,
    "texts": st.lists(TEXT, max_size=9) | JSON,
    "id": st.sampled_from(["a", "", "i" * 257, None]) | JSON,
    "source": st.sampled_from(["chat", None]) | JSON,
    "metadata": st.dictionaries(st.text(max_size=2), st.text(max_size=2), max_size=2) | JSON,
    "other": JSON,
}
BODIES = st.fixed_dictionaries({}, optional=FIELDS) | JSON


def server_answer(body: Any) -> int:
    try:
        parse_request(json.dumps(body).encode(), LIMITS)
    except ApiError as error:
        return error.status
    return 200


@functools.cache
def request_validator() -> jsonschema.Draft202012Validator:
    """The request body's schema in the document, the server's limits included."""
    document = openapi_document(LIMITS, keyed=False)
    request = document["components"]["requestBodies"]["ClassifyRequest"]
    schema = request["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


@settings(max_examples=300, deadline=None)
@given(BODIES)
@example({"text": None, "texts": ["a"]})
@example({"texts": ["a"], "id": None})
@example({"texts": ["a"], "id": "x"})
@example({"text": "\x1c\x85"})
@example({"text": "\ufeff"})
def test_the_request_schema_accepts_what_the_server_and_the_model_accept(body: Any) -> None:
    validator = request_validator()
    status = server_answer(body)
    assert status in (200, 400, 413)
    assert validator.is_valid(body) == (status == 200), (body, status)
    try:
        ClassifyRequest.model_validate(body)
        model_accepts = True
    except ValidationError:
        model_accepts = False
    within_limits = status != 413
    if within_limits:
        assert model_accepts == (status == 200), (body, status)
