"""Every setting of the worker, read from the environment by pydantic-settings.

The names are a contract (see DESIGN.md): `INPUT_TOPIC`, `BATCH_MAX_MESSAGES`, ... and
`KAFKA_<NAME>` for any librdkafka property (`KAFKA_SESSION_TIMEOUT_MS=6000` becomes
`session.timeout.ms=6000`). A bad value stops start-up with a `SettingsError` whose message
names the environment variable, never a Python field name.

Secrets (`KAFKA_SASL_PASSWORD`, `KAFKA_SSL_KEY_PASSWORD`, `MODEL_SIGNING_KEY`, ...) are
`SecretStr`. Each can also come from a file: `<VARIABLE>_FILE=/path` reads the value from
that file (a key of a Kubernetes Secret mounted as a volume, a Docker secret), the
convention of the official Docker images. TLS and SASL settings are checked at start-up
(`_check_security`): an unknown protocol or mechanism, SASL without credentials, a missing
CA file or switched-off certificate verification stop the worker before it connects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# The shipped default model (installed package data first, then the checkout's models/).
from consumer.config.paths import DEFAULT_MODEL_PATH

__all__ = [
    "DEFAULT_MODEL_PATH",
    "GUARANTEE_PROPERTIES",
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "Settings",
    "SettingsError",
    "env_name_of_property",
    "load_settings",
]

#: librdkafka properties the delivery guarantees rest on: the worker sets them itself and
#: refuses an override, because with any other value a crash could lose messages.
GUARANTEE_PROPERTIES: dict[str, str] = {
    "enable.auto.commit": "offsets are committed only after delivery is acknowledged",
    "enable.auto.offset.store": "offsets are stored only after delivery is acknowledged",
    "enable.idempotence": "the producer must be idempotent",
    "acks": "verdicts are acknowledged by all in-sync replicas",
    "group.id": "set the consumer group with GROUP_ID",
    "bootstrap.servers": "set the brokers with KAFKA_BOOTSTRAP_SERVERS",
    "transactional.id": "the worker is at-least-once, not transactional",
}

#: Fragments of librdkafka property names whose values are secrets.
_SECRET_MARKERS = (
    "password",
    "passphrase",
    "secret",
    "key.pem",
    "sasl.jaas",
    "sasl.oauthbearer.config",
    "ssl.key",
    "token",
)

_PASSTHROUGH_PREFIX = "KAFKA_"
_OWN_KAFKA_VARIABLES = frozenset({"KAFKA_BOOTSTRAP_SERVERS"})

#: `<VARIABLE>_FILE` holds the path of a file with the value of a secret `<VARIABLE>`.
FILE_SUFFIX = "_FILE"
#: librdkafka properties whose own names end in `.file`: paths, passed through as they are.
_LIBRDKAFKA_FILE_PROPERTIES = frozenset(
    {
        "sasl.oauthbearer.assertion.private.key.file",
        "sasl.oauthbearer.assertion.jwt.template.file",
    }
)

#: `security.protocol` values (librdkafka reads them in any case; we write them upper-case).
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: SASL mechanisms of this librdkafka build that the worker can use without code of its own
#: (GSSAPI is not built into the confluent-kafka wheels; OAUTHBEARER only with OIDC).
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
_PASSWORD_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})
#: Paths librdkafka reads at start; a missing one fails here, naming its variable.
_TLS_FILE_PROPERTIES = (
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.crl.location",
    "ssl.keystore.location",
)
#: Properties that would switch off what TLS is for: knowing who is at the other end.
_VERIFICATION_OFF: dict[str, tuple[set[str], str]] = {
    "enable.ssl.certificate.verification": (
        {"false", "0", "no", "off"},
        "the broker's certificate is always verified; give its CA with KAFKA_SSL_CA_LOCATION",
    ),
    "ssl.endpoint.identification.algorithm": (
        {"none"},
        "the broker's host name is always checked against its certificate; "
        "use the names its certificate carries in KAFKA_BOOTSTRAP_SERVERS",
    ),
}


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


def env_name_of_property(prop: str) -> str:
    """`session.timeout.ms` -> `KAFKA_SESSION_TIMEOUT_MS` (for error messages)."""
    return _PASSTHROUGH_PREFIX + prop.replace(".", "_").upper()


def _is_secret(prop: str) -> bool:
    return any(marker in prop for marker in _SECRET_MARKERS)


def read_secret_file(variable: str, path: str) -> str:
    """The content of a mounted secret file, without its trailing line break (Secrets made
    with `echo` have one). Unreadable or empty: `SettingsError` naming the variable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{variable}: {path} is not UTF-8 text") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"{variable}: cannot read {path}: {reason}") from None
    value = text.rstrip("\r\n")
    if not value:
        raise SettingsError(f"{variable}: {path} is empty")
    return value


def _secret_files(environ: Mapping[str, str], names: set[str]) -> dict[str, str]:
    """Values of `<NAME>_FILE` variables for the secret variables `names` (upper-case)."""
    found: dict[str, str] = {}
    for name, path in environ.items():
        upper = name.upper()
        if not upper.endswith(FILE_SUFFIX):
            continue
        target = upper.removesuffix(FILE_SUFFIX)
        if target not in names:
            continue
        if any(other.upper() == target for other in environ):
            raise SettingsError(f"{target} and {upper}: set one of them, not both")
        found[target] = read_secret_file(upper, path)
    return found


def _is_secret_file_variable(upper: str) -> bool:
    """`KAFKA_SASL_PASSWORD_FILE` is a file reference; `KAFKA_..._PRIVATE_KEY_FILE` is not."""
    if not upper.endswith(FILE_SUFFIX):
        return False
    prop = _property_of(upper)
    return prop not in _LIBRDKAFKA_FILE_PROPERTIES and _is_secret(prop.removesuffix(".file"))


def _property_of(upper: str) -> str:
    return upper[len(_PASSTHROUGH_PREFIX) :].lower().replace("_", ".")


class _KafkaPassthroughSource(PydanticBaseSettingsSource):
    """Collects `KAFKA_<NAME>` variables into the `kafka` field as librdkafka properties."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ does the work

    def __call__(self) -> dict[str, Any]:
        props: dict[str, str] = {}
        kafka_variables = {
            name.upper(): value
            for name, value in os.environ.items()
            if name.upper().startswith(_PASSTHROUGH_PREFIX)
            and name.upper() not in _OWN_KAFKA_VARIABLES
        }
        secret_files = {name for name in kafka_variables if _is_secret_file_variable(name)}
        from_files = _secret_files(
            kafka_variables, {name.removesuffix(FILE_SUFFIX) for name in secret_files}
        )
        for upper, value in kafka_variables.items():
            if upper in secret_files:
                continue
            prop = _property_of(upper)
            if prop:
                props[prop] = value
        for upper, value in from_files.items():
            props[_property_of(upper)] = value
        return {"kafka": props} if props else {}


class _SecretFileSource(PydanticBaseSettingsSource):
    """`<NAME>_FILE` for the secret settings (`MODEL_SIGNING_KEY_FILE`): the file's content."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ does the work

    def __call__(self) -> dict[str, Any]:
        secret_fields = {name.upper() for name in _secret_field_names()}
        found = _secret_files(os.environ, secret_fields)
        return {name.lower(): value for name, value in found.items()}


class Settings(BaseSettings):
    """The worker's configuration. Frozen: read once at start-up."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    kafka_bootstrap_servers: str = Field("localhost:9092", min_length=1)
    input_topic: str = Field("content.raw", min_length=1, max_length=249)
    output_topic: str = Field("content.verdicts", min_length=1, max_length=249)
    dlq_topic: str = Field("content.dlq", min_length=1, max_length=249)
    group_id: str = Field("content-classifier", min_length=1)
    model_path: Path = DEFAULT_MODEL_PATH
    # Defaults chosen by bench/ (docs/benchmarks.md): from 500 records up, predict_proba's
    # throughput per CPU second is within 2 % of its best, and a batch of 500 takes about
    # 25 ms with the default model; 20 ms of waiting keeps the p50 end-to-end latency at
    # half of the maximum rate near 40 ms where 50 ms gave about 100 ms.
    batch_max_messages: int = Field(500, ge=1, le=100_000)
    batch_max_wait_ms: int = Field(5, ge=0, le=60_000)
    max_text_chars: int = Field(10_000, ge=1, le=10_000_000)
    #: A value over this many bytes is dead-lettered before it is parsed (1 MiB: Kafka's
    #: default record limit, far above the JSON of MAX_TEXT_CHARS characters).
    max_value_bytes: int = Field(1_048_576, ge=64, le=100 * 1_048_576)
    #: How often a running worker looks for a new model at MODEL_PATH (0: never).
    model_reload_interval_s: float = Field(10.0, ge=0, le=86_400)
    metrics_port: int = Field(8000, ge=0, le=65_535)
    shutdown_timeout_s: float = Field(20.0, gt=0, le=3_600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    #: Key of the HMAC-SHA256 signature of model manifests (`manifest.json.sig`); when set,
    #: a model without a valid signature is refused before anything is unpickled.
    model_signing_key: SecretStr | None = Field(None, min_length=16)
    #: librdkafka properties from `KAFKA_<NAME>` variables; secrets are SecretStr.
    kafka: dict[str, SecretStr | str] = Field(default_factory=dict)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _normalise_case(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            return value.upper() if info.field_name == "log_level" else value.lower()
        return value

    @field_validator("kafka", mode="after")
    @classmethod
    def _check_passthrough(cls, props: dict[str, SecretStr | str]) -> dict[str, SecretStr | str]:
        checked: dict[str, SecretStr | str] = {}
        for prop, value in props.items():
            if prop in GUARANTEE_PROPERTIES:
                raise ValueError(
                    f"{env_name_of_property(prop)} cannot be set: {GUARANTEE_PROPERTIES[prop]}"
                )
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            checked[prop] = SecretStr(raw) if _is_secret(prop) else raw
        return _check_security(checked)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _KafkaPassthroughSource(settings_cls),
            env_settings,
            _SecretFileSource(settings_cls),
            file_secret_settings,
        )

    def kafka_properties(self) -> dict[str, str]:
        """The passthrough properties with secrets revealed, for librdkafka only."""
        return {
            prop: value.get_secret_value() if isinstance(value, SecretStr) else value
            for prop, value in self.kafka.items()
        }

    def common_client_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.kafka_bootstrap_servers, **self.kafka_properties()}

    def loggable(self) -> dict[str, Any]:
        """Settings safe to log: secrets stay masked."""
        data = self.model_dump(exclude={"kafka", "model_signing_key"})
        data["model_path"] = str(self.model_path)
        data["model_signing_key"] = "**********" if self.model_signing_key else None
        data["kafka"] = {
            prop: "**********" if isinstance(value, SecretStr) else value
            for prop, value in self.kafka.items()
        }
        return data


def _check_security(props: dict[str, SecretStr | str]) -> dict[str, SecretStr | str]:
    """TLS and SASL properties that librdkafka would accept but that cannot work, or would
    quietly send credentials nowhere or trust any certificate, stop start-up here."""
    plain = {p: v for p, v in props.items() if isinstance(v, str)}
    env = env_name_of_property
    if "sasl.mechanisms" in props:  # librdkafka's older name of the same property
        if "sasl.mechanism" in props:
            raise ValueError(
                f"{env('sasl.mechanism')} and {env('sasl.mechanisms')}: set one of them"
            )
        props = {("sasl.mechanism" if p == "sasl.mechanisms" else p): v for p, v in props.items()}
        plain = {p: v for p, v in props.items() if isinstance(v, str)}

    protocol = plain.get("security.protocol", "PLAINTEXT").strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(
            f"{env('security.protocol')}: must be one of {', '.join(SECURITY_PROTOCOLS)} "
            f"(got {plain['security.protocol']!r})"
        )
    if "security.protocol" in props:
        props["security.protocol"] = protocol

    mechanism = plain.get("sasl.mechanism", "").strip().upper()
    if mechanism:
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(
                f"{env('sasl.mechanism')}: must be one of {', '.join(SASL_MECHANISMS)} "
                f"(got {plain['sasl.mechanism']!r})"
            )
        props["sasl.mechanism"] = mechanism
    if protocol.startswith("SASL_"):
        if not mechanism:
            raise ValueError(
                f"{env('sasl.mechanism')}: required with {env('security.protocol')}={protocol}"
                f" (one of {', '.join(SASL_MECHANISMS)})"
            )
        if mechanism in _PASSWORD_MECHANISMS:
            for prop in ("sasl.username", "sasl.password"):
                value = props.get(prop)
                raw = value.get_secret_value() if isinstance(value, SecretStr) else value
                if not raw:
                    raise ValueError(
                        f"{env(prop)} (or {env(prop)}{FILE_SUFFIX}): required with "
                        f"{env('sasl.mechanism')}={mechanism}"
                    )
        if mechanism == "OAUTHBEARER" and plain.get("sasl.oauthbearer.method", "").lower() != (
            "oidc"
        ):
            raise ValueError(
                f"{env('sasl.oauthbearer.method')}: must be oidc with "
                f"{env('sasl.mechanism')}=OAUTHBEARER (the worker has no token callback)"
            )
    elif mechanism:
        raise ValueError(
            f"{env('security.protocol')}: is {protocol}, so {env('sasl.mechanism')} and the "
            "SASL credentials would never be used; set SASL_SSL (or SASL_PLAINTEXT)"
        )

    tls = protocol in {"SSL", "SASL_SSL"}
    for prop in _TLS_FILE_PROPERTIES:
        path = plain.get(prop)
        if path is None:
            continue
        if not tls:
            raise ValueError(
                f"{env('security.protocol')}: is {protocol}, so {env(prop)} would be ignored "
                "and nothing encrypted; set SSL or SASL_SSL"
            )
        if prop == "ssl.ca.location" and path == "probe":
            continue
        if not Path(path).exists():
            raise ValueError(f"{env(prop)}: {path} does not exist")
        if not os.access(path, os.R_OK):
            raise ValueError(f"{env(prop)}: {path} is not readable by this user")
    has_cert = "ssl.certificate.location" in props
    has_key = "ssl.key.location" in props
    if has_cert != has_key:
        missing = "ssl.key.location" if has_cert else "ssl.certificate.location"
        present = "ssl.certificate.location" if has_cert else "ssl.key.location"
        raise ValueError(f"{env(missing)}: required with {env(present)} (mutual TLS)")
    for prop, (refused, reason) in _VERIFICATION_OFF.items():
        if plain.get(prop, "").strip().lower() in refused:
            raise ValueError(f"{env(prop)} cannot be {plain[prop]!r}: {reason}")
    return props


def _variable_of(loc: tuple[int | str, ...]) -> str | None:
    """The environment variable an error location stands for (None: the message names it)."""
    if not loc or loc == ("kafka",):
        return None
    if loc[0] == "kafka":
        return env_name_of_property(str(loc[1]))
    return str(loc[0]).upper()


def _secret_field_names() -> set[str]:
    return {
        name
        for name, info in Settings.model_fields.items()
        if SecretStr in (info.annotation, *getattr(info.annotation, "__args__", ()))
    }


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment; `SettingsError` names each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            variable = _variable_of(tuple(error["loc"]))
            message = str(error["msg"]).removeprefix("Value error, ")
            given = error.get("input")
            # Never echo a value from a KAFKA_ variable or a secret setting.
            hidden = (
                variable is None
                or variable.startswith(_PASSTHROUGH_PREFIX)
                or variable.lower() in _secret_field_names()
            )
            shown = "" if hidden or isinstance(given, Mapping) else f" (got {given!r})"
            problems.append(f"{variable}: {message}{shown}" if variable else message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
