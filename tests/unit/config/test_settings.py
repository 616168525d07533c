from __future__ import annotations

import pytest
from pydantic import SecretStr

from consumer.config.paths import default_model_path
from consumer.config.settings import SettingsError, load_settings
from consumer.stream.clients import build_consumer, consumer_config, producer_config


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("KAFKA_") or name in {
            "INPUT_TOPIC",
            "OUTPUT_TOPIC",
            "DLQ_TOPIC",
            "GROUP_ID",
            "MODEL_PATH",
            "BATCH_MAX_MESSAGES",
            "BATCH_MAX_WAIT_MS",
            "MAX_TEXT_CHARS",
            "MAX_VALUE_BYTES",
            "METRICS_PORT",
            "SHUTDOWN_TIMEOUT_S",
            "LOG_LEVEL",
            "LOG_FORMAT",
            "MODEL_SIGNING_KEY",
            "MODEL_SIGNING_KEY_FILE",
        }:
            monkeypatch.delenv(name)


def test_defaults_match_the_design_table() -> None:
    s = load_settings()
    assert s.kafka_bootstrap_servers == "localhost:9092"
    assert (s.input_topic, s.output_topic, s.dlq_topic) == (
        "content.raw",
        "content.verdicts",
        "content.dlq",
    )
    assert s.group_id == "content-classifier"
    assert s.model_path == default_model_path()
    assert s.max_text_chars == 10_000
    assert s.max_value_bytes == 1_048_576
    assert s.metrics_port == 8000
    assert s.shutdown_timeout_s == 20
    assert (s.log_level, s.log_format) == ("INFO", "json")
    assert s.kafka == {}


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "KAFKA_BOOTSTRAP_SERVERS": "b1:9092,b2:9092",
        "INPUT_TOPIC": "i",
        "OUTPUT_TOPIC": "o",
        "DLQ_TOPIC": "d",
        "GROUP_ID": "g",
        "MODEL_PATH": "/models/x",
        "BATCH_MAX_MESSAGES": "123",
        "BATCH_MAX_WAIT_MS": "7",
        "MAX_TEXT_CHARS": "99",
        "MAX_VALUE_BYTES": "4096",
        "METRICS_PORT": "0",
        "SHUTDOWN_TIMEOUT_S": "5.5",
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "CONSOLE",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert s.kafka_bootstrap_servers == "b1:9092,b2:9092"
    assert (s.input_topic, s.output_topic, s.dlq_topic, s.group_id) == ("i", "o", "d", "g")
    assert str(s.model_path) == "/models/x"
    assert (s.batch_max_messages, s.batch_max_wait_ms, s.max_text_chars) == (123, 7, 99)
    assert s.max_value_bytes == 4096
    assert (s.metrics_port, s.shutdown_timeout_s) == (0, 5.5)
    assert (s.log_level, s.log_format) == ("DEBUG", "console")
    assert s.kafka == {}, "KAFKA_BOOTSTRAP_SERVERS is a setting, not a passthrough property"


def test_kafka_passthrough_maps_names_to_librdkafka_properties(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "6000")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "content-classifier")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "hunter2")
    s = load_settings()
    assert s.kafka["session.timeout.ms"] == "6000"
    assert s.kafka["security.protocol"] == "SASL_SSL"
    assert isinstance(s.kafka["sasl.password"], SecretStr)
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.loggable())
    assert s.kafka_properties()["sasl.password"] == "hunter2"
    consumer = consumer_config(s)
    producer = producer_config(s)
    assert consumer["session.timeout.ms"] == "6000"
    assert "session.timeout.ms" not in producer, "consumer-only properties stay off the producer"
    assert producer["sasl.password"] == consumer["sasl.password"] == "hunter2"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BATCH_MAX_MESSAGES", "0"),
        ("BATCH_MAX_MESSAGES", "lots"),
        ("BATCH_MAX_WAIT_MS", "-1"),
        ("MAX_TEXT_CHARS", "0"),
        ("MAX_VALUE_BYTES", "10"),
        ("METRICS_PORT", "70000"),
        ("SHUTDOWN_TIMEOUT_S", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("INPUT_TOPIC", ""),
        ("CARRY_HEADERS", "x-id,has space"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


@pytest.mark.parametrize(
    "variable",
    ["KAFKA_ENABLE_AUTO_COMMIT", "KAFKA_ACKS", "KAFKA_ENABLE_IDEMPOTENCE", "KAFKA_GROUP_ID"],
)
def test_properties_the_guarantees_rest_on_cannot_be_overridden(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_an_unknown_librdkafka_property_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_NOT_A_PROPERTY", "1")
    settings = load_settings()
    with pytest.raises(SettingsError, match="KAFKA_NOT_A_PROPERTY"):
        build_consumer(settings)


def test_a_secret_value_is_never_echoed_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret-value")
    monkeypatch.setenv("KAFKA_ACKS", "0")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "s3cret-value" not in str(caught.value)


def test_group_stall_s_defaults_to_four_session_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().group_stall_bound_s() == 180.0  # librdkafka's 45 s
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "6000")
    assert load_settings().group_stall_bound_s() == 24.0
    monkeypatch.setenv("GROUP_STALL_S", "90")
    assert load_settings().group_stall_bound_s() == 90.0


def test_group_stall_s_below_the_session_timeout_names_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "10000")
    monkeypatch.setenv("GROUP_STALL_S", "9")
    with pytest.raises(SettingsError, match=r"GROUP_STALL_S.*KAFKA_SESSION_TIMEOUT_MS"):
        load_settings()
