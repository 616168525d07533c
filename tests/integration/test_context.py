"""Context carried through on a real broker: each verdict carries its input's W3C trace
context and the CARRY_HEADERS, and its `source` and `metadata`; a dead letter keeps every
input header."""

from __future__ import annotations

import orjson
import pytest

from consumer.contracts.messages import DeadLetterHeader, Verdict
from tests.integration.conftest import RunWorker
from tests.kafka_helpers import Record, produce, read_topic

pytestmark = pytest.mark.integration

COUNT = 40


def trace_headers(i: int) -> list[tuple[str, bytes | None]]:
    return [
        ("traceparent", f"00-{i:032x}-{i + 1:016x}-01".encode()),
        ("tracestate", b"vendor=1"),
        ("X-Correlation-Id", f"corr-{i}".encode()),
        ("x-not-carried", b"secret"),
    ]


def test_verdicts_and_dead_letters_carry_the_input_context(
    bootstrap: str, run_worker: RunWorker
) -> None:
    t = run_worker(partitions=2, CARRY_HEADERS="x-correlation-id").topics
    records: list[Record] = []
    for i in range(COUNT):
        message: dict[str, object] = {"id": f"m{i}", "text": f"message number {i}"}
        if i % 2 == 0:
            message |= {"source": "chat", "metadata": {"tenant": f"t{i % 3}"}}
        records.append((f"k{i}".encode(), orjson.dumps(message), trace_headers(i)))
    records.append((b"bad", b"{not json", trace_headers(COUNT)))
    records.append((b"plain", orjson.dumps({"id": "plain", "text": "no headers"}), None))
    produce(bootstrap, t.input, records)

    out = read_topic(bootstrap, t.output, t.partitions, expect=COUNT + 1)
    by_id = {}
    for o in out:
        verdict = Verdict.model_validate_json(o.value or b"")
        by_id[verdict.id] = (verdict, o.headers)
    assert by_id["plain"][1] in (None, [])
    for i in range(COUNT):
        verdict, headers = by_id[f"m{i}"]
        expected = [h for h in trace_headers(i) if h[0] != "x-not-carried"]
        assert headers == expected
        if i % 2 == 0:
            assert (verdict.input_source, verdict.metadata) == ("chat", {"tenant": f"t{i % 3}"})
        else:
            assert (verdict.input_source, verdict.metadata) == (None, None)

    [dead] = read_topic(bootstrap, t.dlq, 1, expect=1)
    names = [name for name, _ in dead.headers or []]
    assert names[:4] == [name for name, _ in trace_headers(COUNT)]
    assert DeadLetterHeader.STAGE.value in names
