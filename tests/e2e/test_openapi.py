"""The API against its own OpenAPI document, fuzzed by schemathesis on a real server process:
every operation, its examples first, then the boundaries of each schema (coverage) and
random requests valid and not (fuzzing), with a key and without one. Every answer must be
documented, in the document's schema and content type, never a server error; a valid
request is answered 200 (401 without a key), an invalid one 400, the 413 of a limit the
document states, 401 for a malformed key, 404 or 405 for a path or method it does not have."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from tests.serve_process import KEY, Server, start_server

pytestmark = pytest.mark.e2e

#: Limits low enough that a body within the document's bounds (texts a request, characters a
#: text) stays below SERVE_MAX_BODY_BYTES, so that no valid body is refused as too large; a
#: rate no fuzzer reaches, so that the answers are the operations' own and not 429.
FUZZED_SERVER = {
    "MAX_TEXT_CHARS": "300",
    "SERVE_MAX_TEXTS": "20",
    "SERVE_MAX_BODY_BYTES": "1048576",
    "SERVE_RATE_PER_S": "1000000",
    "SERVE_BURST": "10000000",
}

#: Random requests an operation, beside its examples and the schema's boundaries: bounded so
#: that the module takes under a minute. Hypothesis' health checks would fail a slow server
#: or large bodies, which are what is being tested. Without a key every answer is the same
#: 401, so fewer requests tell as much.
FUZZING = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
REFUSED = settings(FUZZING, max_examples=30)


def loaded(server: Server, key: str | None, valid: str, invalid: list[str]) -> Any:
    """The server's own document, requests sent with `key` in either of the schemes it has
    (or none), every check schemathesis has, `valid` the one status a valid request may get
    and `invalid` those of an invalid one."""
    auth = {"openapi": {"bearer": {"bearer": key}, "apiKey": {"api_key": key}}} if key else {}
    config = schemathesis.Config.from_dict(
        {
            "auth": auth,
            "checks": {
                "positive_data_acceptance": {"expected-statuses": [valid]},
                "negative_data_rejection": {"expected-statuses": invalid},
            },
        }
    )
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_server(tmp_path_factory.mktemp("fuzzed"), **FUZZED_SERVER)
    yield started
    started.process.terminate()
    assert started.process.wait(30) == 0, started.log.read_text()[-3000:]
    assert "request failed" not in started.log.read_text()


@pytest.fixture(scope="module")
def with_key(server: Server) -> Any:
    # An invalid request may carry a malformed key (401), or a path or a method the document
    # does not have (404, 405), answered with the same JSON error body.
    return loaded(server, KEY, "200", ["400", "401", "404", "405", "413"])


@pytest.fixture(scope="module")
def without_key(server: Server) -> Any:
    # The key is checked before the body is read: valid or not, a request without it is 401.
    return loaded(server, None, "401", ["401"])


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's `from_fixture` reads and sets the private `_nodeid` of the test
    item, which pytest 9 no longer has: give it one (it only names the subtests)."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schemathesis.pytest.from_fixture("with_key").parametrize()
@FUZZING
def test_with_a_key_every_answer_is_documented(case: Case) -> None:
    case.call_and_validate()


@schemathesis.pytest.from_fixture("without_key").include(tag="model").parametrize()
@REFUSED
def test_without_a_key_every_request_to_the_model_is_refused(case: Case) -> None:
    case.call_and_validate()


def test_the_document_is_valid_openapi_3_1(with_key: Any) -> None:
    with_key.validate()  # against the OpenAPI 3.1 schema
    assert with_key.raw_schema["openapi"] == "3.1.0"
