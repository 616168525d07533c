"""The worker-process harness without a broker: environments, log events, stopping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from consumer.config.settings import load_settings
from consumer.devkit.broker import EMBEDDED_CLIENT_PROPERTIES
from consumer.devkit.harness import (
    WorkerError,
    WorkerProcess,
    kafka_variables,
    parse_events,
    stop_all,
    worker_environment,
)


def test_kafka_variables_are_the_names_settings_read_back() -> None:
    variables = kafka_variables({"session.timeout.ms": "6000", "sasl.password": "x"})
    assert variables == {"KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_SASL_PASSWORD": "x"}


def test_the_environment_drops_the_callers_kafka_variables_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("HARNESS_TEST_MARKER", "kept")
    env = worker_environment("127.0.0.1:1234", {"INPUT_TOPIC": "in"})
    assert "KAFKA_SECURITY_PROTOCOL" not in env
    assert env["HARNESS_TEST_MARKER"] == "kept"
    assert env["INPUT_TOPIC"] == "in"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:1234"
    for prop, value in EMBEDDED_CLIENT_PROPERTIES.items():
        assert env["KAFKA_" + prop.replace(".", "_").upper()] == value


def test_settings_and_extra_properties_win_and_the_bootstrap_comes_last() -> None:
    env = worker_environment(
        "broker:9092",
        {"KAFKA_SESSION_TIMEOUT_MS": "9000", "KAFKA_BOOTSTRAP_SERVERS": "elsewhere:1"},
        kafka={"statistics.interval.ms": "500", "heartbeat.interval.ms": "700"},
        base={"KAFKA_LINGER_MS": "3", "PATH": "/bin"},
    )
    assert env == {
        "PATH": "/bin",
        "KAFKA_LINGER_MS": "3",  # an explicit base is taken as it is
        "KAFKA_SESSION_TIMEOUT_MS": "9000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "700",
        "KAFKA_STATISTICS_INTERVAL_MS": "500",
        "GROUP_LEAVE_ON_STOP": "false",  # the embedded broker's workers leave by timeout
        "KAFKA_BOOTSTRAP_SERVERS": "broker:9092",
    }


def test_a_worker_reads_the_environment_as_it_was_meant(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("KAFKA_"):
            monkeypatch.delenv(name)
    env = worker_environment("broker:9092", {"INPUT_TOPIC": "in"}, base={})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "broker:9092"
    assert settings.input_topic == "in"
    assert settings.kafka == EMBEDDED_CLIENT_PROPERTIES
    assert settings.group_leave_on_stop is False


def test_events_are_the_json_lines_in_order_and_named_ones_on_request() -> None:
    text = (
        '{"event": "model loaded", "level": "info"}\n'
        "%4|1700000000.000|FAIL|rdkafka#consumer-1| a librdkafka line\n"
        '{"event": "http server listening", "port": 41234}\n'
        "Traceback (most recent call last):\n"
        '{"event": "partitions assigned", "partitions": [0, 1]}\n'
    )
    assert [e["event"] for e in parse_events(text)] == [
        "model loaded",
        "http server listening",
        "partitions assigned",
    ]
    assert parse_events(text, ["partitions assigned"]) == [
        {"event": "partitions assigned", "partitions": [0, 1]}
    ]


def test_a_line_still_being_written_is_not_an_event_yet() -> None:
    assert parse_events('{"event": "a"}\n{"event": "b", "po') == [{"event": "a"}]
    assert parse_events('{"event": "a"}') == []


def fake_worker(tmp_path: Path, script: str, name: str = "worker") -> WorkerProcess:
    """A process that prints like a worker: the harness does not care what runs."""
    return WorkerProcess({}, tmp_path / f"{name}.log", ("-c", script), cwd=tmp_path).start()


def test_the_http_port_and_events_come_from_the_log(tmp_path: Path) -> None:
    line = orjson.dumps({"event": "http server listening", "port": 45678}).decode()
    worker = fake_worker(
        tmp_path,
        f"import time; print({line!r}, flush=True); print('plain', flush=True); time.sleep(60)",
    )
    try:
        assert worker.http_port(timeout_s=10) == 45678
        assert worker.logged_http_port() == 45678
        worker.wait_for_log("plain", timeout_s=10)
        assert worker.returncode is None
    finally:
        code, seconds = worker.terminate(timeout_s=10)
    assert code == -15 and seconds < 10  # no handler: SIGTERM ends it


def test_waiting_for_several_events_returns_the_first_once_all_are_logged(
    tmp_path: Path,
) -> None:
    """`run --processes 2` logs one `partitions assigned` for each member."""
    first, second = (
        orjson.dumps({"event": "partitions assigned", "partitions": [p]}).decode() for p in (0, 1)
    )
    worker = fake_worker(
        tmp_path,
        f"import time; print({first!r}, flush=True); time.sleep(0.5); "
        f"print({second!r}, flush=True); time.sleep(60)",
    )
    try:
        event = worker.wait_for_event("partitions assigned", timeout_s=10, count=2)
        assert event["partitions"] == [0]
        assert len(worker.events("partitions assigned")) == 2
        with pytest.raises(WorkerError, match="3 x 'partitions assigned' not logged"):
            worker.wait_for_event("partitions assigned", timeout_s=0.5, count=3)
    finally:
        worker.terminate(timeout_s=10)


def test_waiting_on_a_worker_that_exited_says_so(tmp_path: Path) -> None:
    worker = fake_worker(tmp_path, "import sys; print('bad setting'); sys.exit(2)")
    with pytest.raises(WorkerError, match=r"exited 2:\nbad setting"):
        worker.wait_for_event("partitions assigned", timeout_s=10)


def test_a_worker_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    stubborn = fake_worker(tmp_path, script)
    polite = fake_worker(tmp_path, "import time; time.sleep(60)", "polite")
    stubborn.wait_for_log("ready", timeout_s=10)
    assert stop_all([stubborn, polite], timeout_s=0.5) == [-9, -15]
    stubborn_again = fake_worker(tmp_path, script, "again")
    stubborn_again.wait_for_log("ready", timeout_s=10)
    with pytest.raises(subprocess.TimeoutExpired):
        stubborn_again.terminate(timeout_s=0.5)
    assert stubborn_again.returncode == -9


def test_the_interpreter_is_this_one(tmp_path: Path) -> None:
    worker = fake_worker(tmp_path, "import sys; print(sys.executable)")
    assert worker.wait(10) == 0
    assert worker.log().strip() == sys.executable
