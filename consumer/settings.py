"""Every setting of the worker, read from the environment by pydantic-settings.

The names are a contract (see DESIGN.md): `INPUT_TOPIC`, `BATCH_MAX_MESSAGES`, ... and
`KAFKA_<NAME>` for any librdkafka property (`KAFKA_SESSION_TIMEOUT_MS=6000` becomes
`session.timeout.ms=6000`). A bad value stops start-up with a `SettingsError` whose message
names the environment variable, never a Python field name.
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

__all__ = [
    "DEFAULT_MODEL_PATH",
    "GUARANTEE_PROPERTIES",
    "Settings",
    "SettingsError",
    "env_name_of_property",
    "load_settings",
]

#: The model folder shipped with the package (`models/` at the repository root).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "malicious-content"

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
_SECRET_MARKERS = ("password", "secret", "key.pem", "sasl.jaas", "ssl.key", "token")

_PASSTHROUGH_PREFIX = "KAFKA_"
_OWN_KAFKA_VARIABLES = frozenset({"KAFKA_BOOTSTRAP_SERVERS"})


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


def env_name_of_property(prop: str) -> str:
    """`session.timeout.ms` -> `KAFKA_SESSION_TIMEOUT_MS` (for error messages)."""
    return _PASSTHROUGH_PREFIX + prop.replace(".", "_").upper()


def _is_secret(prop: str) -> bool:
    return any(marker in prop for marker in _SECRET_MARKERS)


class _KafkaPassthroughSource(PydanticBaseSettingsSource):
    """Collects `KAFKA_<NAME>` variables into the `kafka` field as librdkafka properties."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ does the work

    def __call__(self) -> dict[str, Any]:
        props: dict[str, str] = {}
        for name, value in os.environ.items():
            upper = name.upper()
            if not upper.startswith(_PASSTHROUGH_PREFIX) or upper in _OWN_KAFKA_VARIABLES:
                continue
            prop = upper[len(_PASSTHROUGH_PREFIX) :].lower().replace("_", ".")
            if prop:
                props[prop] = value
        return {"kafka": props} if props else {}


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
    batch_max_wait_ms: int = Field(20, ge=0, le=60_000)
    max_text_chars: int = Field(10_000, ge=1, le=10_000_000)
    #: How often a running worker looks for a new model at MODEL_PATH (0: never).
    model_reload_interval_s: float = Field(10.0, ge=0, le=86_400)
    metrics_port: int = Field(8000, ge=0, le=65_535)
    shutdown_timeout_s: float = Field(20.0, gt=0, le=3_600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"
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
        return checked

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
        data = self.model_dump(exclude={"kafka"})
        data["model_path"] = str(self.model_path)
        data["kafka"] = {
            prop: "**********" if isinstance(value, SecretStr) else value
            for prop, value in self.kafka.items()
        }
        return data


def _variable_of(loc: tuple[int | str, ...]) -> str | None:
    """The environment variable an error location stands for (None: the message names it)."""
    if not loc or loc == ("kafka",):
        return None
    if loc[0] == "kafka":
        return env_name_of_property(str(loc[1]))
    return str(loc[0]).upper()


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
            # Never echo a value from a KAFKA_ variable: it may be a secret.
            hidden = variable is None or variable.startswith(_PASSTHROUGH_PREFIX)
            shown = "" if hidden or isinstance(given, Mapping) else f" (got {given!r})"
            problems.append(f"{variable}: {message}{shown}" if variable else message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
