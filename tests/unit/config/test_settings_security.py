"""TLS and SASL settings, and secrets read from files mounted by a Secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from consumer.config.kafka import SASL_MECHANISMS
from consumer.config.settings import SettingsError, load_settings
from consumer.stream.clients import build_consumer, build_producer

SECRET = "pw-7Hq2-from-a-mounted-secret"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "MODEL_")):
            monkeypatch.delenv(name)


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("not read before a connection\n")
    return path


def sasl_ssl(monkeypatch: pytest.MonkeyPatch, mechanism: str = "SCRAM-SHA-512") -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", mechanism)
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "content-classifier")


def test_a_secret_comes_from_its_file_without_the_trailing_line_break(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sasl_ssl(monkeypatch)
    secret = tmp_path / "password"
    secret.write_text(SECRET + "\n")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(secret))
    s = load_settings()
    assert isinstance(s.kafka["sasl.password"], SecretStr)
    assert s.kafka_properties()["sasl.password"] == SECRET
    assert "sasl.password.file" not in s.kafka, "the _FILE variable is not a property"
    assert SECRET not in repr(s) and SECRET not in str(s.loggable())


def test_a_secret_and_its_file_together_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sasl_ssl(monkeypatch)
    (tmp_path / "password").write_text(SECRET)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    with pytest.raises(SettingsError, match="KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE"):
        load_settings()


@pytest.mark.parametrize(("content", "problem"), [(None, "cannot read"), ("\n", "is empty")])
def test_a_missing_or_empty_secret_file_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "password"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(path))
    with pytest.raises(SettingsError, match=f"KAFKA_SASL_PASSWORD_FILE: .*{problem}"):
        load_settings()


def test_a_librdkafka_property_whose_name_ends_in_file_is_a_path_not_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SASL_OAUTHBEARER_ASSERTION_PRIVATE_KEY_FILE", "/keys/assertion.pem")
    s = load_settings()
    assert s.kafka_properties()["sasl.oauthbearer.assertion.private.key.file"] == (
        "/keys/assertion.pem"
    )


def test_the_model_signing_key_comes_from_the_environment_or_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = "k" * 32
    monkeypatch.setenv("MODEL_SIGNING_KEY", key)
    s = load_settings()
    assert s.model_signing_key is not None and s.model_signing_key.get_secret_value() == key
    assert key not in str(s.loggable()) and s.loggable()["model_signing_key"] == "**********"
    monkeypatch.delenv("MODEL_SIGNING_KEY")
    (tmp_path / "key").write_text(key + "\n")
    monkeypatch.setenv("MODEL_SIGNING_KEY_FILE", str(tmp_path / "key"))
    s = load_settings()
    assert s.model_signing_key is not None and s.model_signing_key.get_secret_value() == key
    assert load_settings().model_signing_key == s.model_signing_key


def test_a_short_signing_key_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODEL_SIGNING_KEY", "short-key")
    with pytest.raises(SettingsError, match="MODEL_SIGNING_KEY") as caught:
        load_settings()
    assert "short-key" not in str(caught.value)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "scram-sha-512"])
def test_each_password_mechanism_builds_clients_librdkafka_accepts(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path, mechanism: str
) -> None:
    sasl_ssl(monkeypatch, mechanism)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("KAFKA_SSL_CA_LOCATION", "probe")
    s = load_settings()
    assert s.kafka["sasl.mechanism"] == mechanism.upper()
    assert mechanism.upper() in SASL_MECHANISMS
    # librdkafka checks the properties when a client is built; nothing connects yet.
    build_producer(s)
    build_consumer(s).close()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
            "KAFKA_SASL_MECHANISM",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
                "KAFKA_SASL_USERNAME": "u",
            },
            "KAFKA_SASL_PASSWORD",
        ),
        (
            {"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"},
            "KAFKA_SECURITY_PROTOCOL",
        ),
        ({"KAFKA_SSL_CA_LOCATION": "/etc/ssl/certs"}, "KAFKA_SECURITY_PROTOCOL"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": "/no/such/ca.pem"},
            "KAFKA_SSL_CA_LOCATION",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SSL",
                "KAFKA_ENABLE_SSL_CERTIFICATE_VERIFICATION": "false",
            },
            "KAFKA_ENABLE_SSL_CERTIFICATE_VERIFICATION",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SSL",
                "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM": "none",
            },
            "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTIFICATE_LOCATION": "/etc/hostname"},
            "KAFKA_SSL_KEY_LOCATION",
        ),
    ],
)
def test_security_settings_that_cannot_work_stop_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_a_ca_file_librdkafka_cannot_use_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("KAFKA_SSL_CA_LOCATION", str(ca_file))
    settings = load_settings()
    with pytest.raises(SettingsError, match="KAFKA_SSL_CA_LOCATION"):
        build_producer(settings)
