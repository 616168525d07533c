"""Logs and metrics never carry message text, keys or secrets."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from tests.conftest import Topics
from tests.kafka_helpers import WorkerProcess, produce, read_topic

pytestmark = pytest.mark.integration

SECRET_PASSWORD = "pw-Zq81-never-log-me"
TEXT_MARKER = "confidential-text-7f3a9"
KEY_MARKER = "private-key-52c1"


def test_a_run_with_known_texts_and_secrets_leaks_none_of_them(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
) -> None:
    t = topics(partitions=2)
    env = worker_env(
        t,
        LOG_LEVEL="DEBUG",
        # A secret property librdkafka accepts without using it (no SASL on this broker).
        KAFKA_SASL_PASSWORD=SECRET_PASSWORD,
        KAFKA_SASL_USERNAME="user",
    )
    worker = start_worker(env)
    records = []
    for i in range(300):
        text = f"{TEXT_MARKER} number {i}"
        if i % 10 == 0:  # malformed ones too: dead-letter logs must not quote them
            value = f'{{"text": "{TEXT_MARKER}'.encode()
        elif i % 10 == 1:
            value = orjson.dumps({"text": text * 800})  # over MAX_TEXT_CHARS
        else:
            value = orjson.dumps({"text": text})
        records.append((f"{KEY_MARKER}-{i}".encode(), value, [("h", TEXT_MARKER.encode())]))
    produce(bootstrap, t.input, records)
    read_topic(bootstrap, t.output, t.partitions, expect=240)
    read_topic(bootstrap, t.dlq, 1, expect=60)
    status, metrics = worker.probe("/metrics")
    assert status == 200
    assert worker.terminate()[0] == 0
    log = worker.log()
    assert '"record dead-lettered"' in log, "the run did log per-record events"
    for marker in (SECRET_PASSWORD, TEXT_MARKER, KEY_MARKER):
        assert marker not in log, f"{marker} leaked into the logs"
        assert marker.encode() not in metrics, f"{marker} leaked into the metrics"
    # Secrets are masked, not dropped: operators can see the property is set.
    assert "sasl.password" in log and "**********" in log
