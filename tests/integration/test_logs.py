"""Logs, metrics and dead-letter error headers never carry message text, keys or secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from consumer.contracts.messages import DLQ_HEADER_PREFIX
from consumer.model.artifact import sign_manifest
from tests.integration.conftest import RunWorker
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration

SECRET_PASSWORD = "pw-Zq81-never-log-me"
SIGNING_KEY = "signing-key-Kx93-never-log-me"
TEXT_MARKER = "confidential-text-7f3a9"
KEY_MARKER = "private-key-52c1"
MAX_VALUE_BYTES = 100_000


def test_a_run_with_known_texts_and_secrets_leaks_none_of_them(
    bootstrap: str,
    run_worker: RunWorker,
    tiny_model_path: Path,
    tmp_path: Path,
) -> None:
    model = tmp_path / "signed-model"
    shutil.copytree(tiny_model_path, model)
    sign_manifest(model, SIGNING_KEY)
    key_file = tmp_path / "secrets" / "model-signing-key"
    key_file.parent.mkdir()
    key_file.write_text(SIGNING_KEY + "\n")
    worker = run_worker(
        partitions=2,
        model=model,
        LOG_LEVEL="DEBUG",
        # A secret from a file, as a mounted Kubernetes Secret gives it.
        MODEL_SIGNING_KEY_FILE=str(key_file),
        MAX_VALUE_BYTES=str(MAX_VALUE_BYTES),
        # A secret property librdkafka accepts without using it (no SASL on this broker).
        KAFKA_SASL_PASSWORD=SECRET_PASSWORD,
        KAFKA_SASL_USERNAME="user",
    )
    t = worker.topics
    records = []
    for i in range(300):
        text = f"{TEXT_MARKER} number {i}"
        if i % 10 == 0:  # malformed ones too: dead-letter logs must not quote them
            value = f'{{"text": "{TEXT_MARKER}'.encode()
        elif i % 10 == 1:
            value = orjson.dumps({"text": text * 800})  # over MAX_TEXT_CHARS
        elif i % 10 == 2:  # over MAX_VALUE_BYTES
            value = orjson.dumps({"text": text, "metadata": {"pad": TEXT_MARKER * 5000}})
            assert len(value) > MAX_VALUE_BYTES
        else:
            value = orjson.dumps({"text": text})
        records.append((f"{KEY_MARKER}-{i}".encode(), value, [("h", TEXT_MARKER.encode())]))
    produce(bootstrap, t.input, records)
    read_topic(bootstrap, t.output, t.partitions, expect=210)
    dead = read_topic(bootstrap, t.dlq, 1, expect=90)
    status, metrics = worker.probe("/metrics")
    assert status == 200
    assert worker.terminate()[0] == 0
    log = worker.log()
    assert '"record dead-lettered"' in log, "the run did log per-record events"
    assert '"model loaded"' in log, "the signed model was verified with the key from the file"
    for marker in (SECRET_PASSWORD, SIGNING_KEY, TEXT_MARKER, KEY_MARKER):
        assert marker not in log, f"{marker} leaked into the logs"
        assert marker.encode() not in metrics, f"{marker} leaked into the metrics"
    # Secrets are masked, not dropped: operators can see the property is set.
    assert "sasl.password" in log and "**********" in log
    # Dead letters carry the original record by contract; the headers they add never quote it.
    stages: dict[str, int] = {}
    for record in dead:
        added = {
            name: value or b""
            for name, value in record.headers or []
            if name.startswith(DLQ_HEADER_PREFIX)
        }
        for value in added.values():
            assert TEXT_MARKER.encode() not in value and KEY_MARKER.encode() not in value
        stage = added[DLQ_HEADER_PREFIX + "stage"].decode()
        stages[stage] = stages.get(stage, 0) + 1
    assert stages == {"decode": 60, "validate": 30}
