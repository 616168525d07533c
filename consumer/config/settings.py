"""Every setting of the worker, read from the environment by pydantic-settings.

The names are a contract (see DESIGN.md): `INPUT_TOPIC`, `BATCH_MAX_MESSAGES`, ... and
`KAFKA_<NAME>` for any librdkafka property (`KAFKA_SESSION_TIMEOUT_MS=6000` becomes
`session.timeout.ms=6000`). A bad value stops start-up with a `SettingsError` whose message
names the environment variable, never a Python field name.

Secrets (`KAFKA_SASL_PASSWORD`, `KAFKA_SSL_KEY_PASSWORD`, `MODEL_SIGNING_KEY`, ...) are
`SecretStr`. Each can also come from a file: `<VARIABLE>_FILE=/path` reads the value from
that file (a key of a Kubernetes Secret mounted as a volume, a Docker secret), the
convention of the official Docker images. TLS and SASL settings are checked at start-up
(`consumer.config.kafka.check_security`): an unknown protocol or mechanism, SASL without
credentials, a missing CA file or switched-off certificate verification stop the worker
before it connects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# The shipped default model (installed package data first, then the checkout's models/).
from consumer.config.kafka import (
    FILE_SUFFIX,
    GUARANTEE_PROPERTIES,
    PASSTHROUGH_PREFIX,
    check_security,
    env_name_of_property,
    is_secret,
)
from consumer.config.paths import default_model_path

__all__ = ["TRACE_HEADERS", "Settings", "SettingsError", "load_settings", "read_secret_file"]

#: Headers every verdict carries from its input when present: W3C Trace Context
#: (`traceparent`, `tracestate`), the names the Kafka binding of Trace Context uses.
TRACE_HEADERS = frozenset({"traceparent", "tracestate"})
#: librdkafka's `session.timeout.ms` when KAFKA_SESSION_TIMEOUT_MS is not set.
DEFAULT_SESSION_TIMEOUT_MS = 45_000
#: GROUP_STALL_S when it is not set, in session timeouts: a join on Apache Kafka ends within
#: one (the broker waits that long for members that do not rejoin), and a member that was
#: killed is evicted after one; four leave room for a slow rejoin after a long batch.
GROUP_STALL_SESSIONS = 4

_OWN_KAFKA_VARIABLES = frozenset({"KAFKA_BOOTSTRAP_SERVERS"})

#: librdkafka properties whose own names end in `.file`: paths, passed through as they are.
_LIBRDKAFKA_FILE_PROPERTIES = frozenset(
    {
        "sasl.oauthbearer.assertion.private.key.file",
        "sasl.oauthbearer.assertion.jwt.template.file",
    }
)


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


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
    return prop not in _LIBRDKAFKA_FILE_PROPERTIES and is_secret(prop.removesuffix(".file"))


def _property_of(upper: str) -> str:
    return upper[len(PASSTHROUGH_PREFIX) :].lower().replace("_", ".")


class _KafkaPassthroughSource(PydanticBaseSettingsSource):
    """Collects `KAFKA_<NAME>` variables into the `kafka` field as librdkafka properties."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ does the work

    def __call__(self) -> dict[str, Any]:
        props: dict[str, str] = {}
        kafka_variables = {
            name.upper(): value
            for name, value in os.environ.items()
            if name.upper().startswith(PASSTHROUGH_PREFIX)
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
    model_path: Path = Field(default_factory=default_model_path)
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
    #: A member whose group membership has not settled for this long (a join that never
    #: completes) closes its consumer and joins again; unsettled as long again, it reports
    #: not live. Unset: GROUP_STALL_SESSIONS session timeouts (`group_stall_bound_s`).
    group_stall_s: float | None = Field(None, gt=0, le=86_400)
    #: False: a stopped worker commits and exits without sending LeaveGroup, and its
    #: partitions move after the session timeout, as a killed worker's do. For the embedded
    #: broker, which keeps as leader a member that left during a rebalance (the group then
    #: never settles: docs/reliability.md); on Apache Kafka leaving hands over at once.
    group_leave_on_stop: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    #: Key of the HMAC-SHA256 signature of model manifests (`manifest.json.sig`); when set,
    #: a model without a valid signature is refused before anything is unpickled.
    model_signing_key: SecretStr | None = Field(None, min_length=16)
    #: Threads of a transformer model's onnxruntime session (0: one per core). With several
    #: worker processes on a machine, 1 each keeps them from competing for the cores.
    model_threads: int = Field(0, ge=0, le=256)
    #: Score drift (docs/operations.md, "Score drift"): the PSI of the verdicts of the last
    #: DRIFT_WINDOW_S seconds against the model's training baseline, once the window holds
    #: DRIFT_MIN_VERDICTS verdicts (fewer make the index noise).
    drift_window_s: float = Field(600.0, ge=1, le=86_400)
    drift_min_verdicts: int = Field(1000, ge=1, le=100_000_000)
    #: A second model scoring the same batches (docs/operations.md, "Shadow model"); its
    #: verdicts, marked `"shadow": true`, go to SHADOW_OUTPUT_TOPIC when that is set.
    shadow_model_path: Path | None = None
    shadow_output_topic: str | None = Field(None, min_length=1, max_length=249)
    #: A shadow batch that takes longer than this (from when the shadow starts it) is dropped
    #: (counted, logged); one shadow batch runs at a time, and the primary never waits for it.
    shadow_timeout_s: float = Field(10.0, gt=0, le=3_600)
    #: Batches handed to the shadow that may wait for it (beyond the one it is scoring)
    #: before the next is dropped as busy: a burst is covered, a backlog is sampled, and
    #: the primary never waits. Each holds a batch's records (BATCH_MAX_MESSAGES at most).
    shadow_queue_batches: int = Field(4, ge=1, le=1_000)
    #: The shadow's onnxruntime threads: 1 runs it on its own (lower-priority) thread only.
    shadow_model_threads: int = Field(1, ge=0, le=256)
    #: Thresholds per source (docs/operations.md, "Policies per source"): a TOML file,
    #: validated at start-up and reloaded like the model; the input's `source` picks the
    #: policy, or the metadata value at POLICY_METADATA_KEY when that is set.
    policy_file: Path | None = None
    policy_metadata_key: str | None = Field(None, min_length=1, max_length=256)
    #: Moderators' decisions (docs/operations.md, "Moderator feedback"), read by the
    #: `content-classifier feedback` consumer group, which matches them to the verdicts of
    #: the last FEEDBACK_WINDOW_S seconds (at most FEEDBACK_MAX_VERDICTS of them).
    feedback_topic: str | None = Field(None, min_length=1, max_length=249)
    feedback_window_s: float = Field(86_400.0, gt=0, le=30 * 86_400)
    feedback_max_verdicts: int = Field(1_000_000, ge=1, le=100_000_000)
    #: A decision read before its verdict (the topics are read side by side) waits this long
    #: for it before it counts as an unknown id.
    feedback_grace_s: float = Field(30.0, ge=0, le=3_600)
    #: Input headers each verdict carries (comma-separated names, matched in lower case),
    #: beside W3C `traceparent` and `tracestate`, which it always carries: a correlation or
    #: request id, say. Dead letters carry every input header.
    carry_headers: str = Field("", max_length=4096)
    #: Spans per batch (docs/operations.md, "Tracing"): sent over OTLP/HTTP to this endpoint
    #: (the OpenTelemetry variable; OTEL_SERVICE_NAME and the other OTEL_ variables apply).
    #: Unset: no tracing, and nothing of OpenTelemetry is even imported.
    otel_exporter_otlp_endpoint: str | None = Field(None, min_length=1)
    #: `content-classifier serve` (docs/operations.md, "HTTP API"): where it listens, who may
    #: call it (SERVE_API_KEYS_FILE, or SERVE_ANONYMOUS=true to let anyone), and its limits.
    serve_host: str = Field("127.0.0.1", min_length=1)
    serve_port: int = Field(8080, ge=0, le=65_535)
    serve_api_keys_file: Path | None = None
    serve_anonymous: bool = False
    serve_max_body_bytes: int = Field(1_048_576, ge=1024, le=100 * 1_048_576)
    serve_max_texts: int = Field(256, ge=1, le=100_000)
    #: Each key's rate limit: texts a second, and how many it may send at once.
    serve_rate_per_s: float = Field(200.0, gt=0, le=1_000_000)
    serve_burst: int = Field(1024, ge=1, le=10_000_000)
    #: Requests are batched into one model call of at most this many texts: what queued
    #: while the model worked, and with a wait above 0 what comes within it after the first.
    serve_batch_max_texts: int = Field(512, ge=1, le=100_000)
    serve_batch_wait_ms: float = Field(0.0, ge=0, le=10_000)
    #: A request body not received within this long is answered 408 (slow clients).
    serve_body_timeout_s: float = Field(10.0, gt=0, le=600)
    #: Connections and requests in progress beyond this are answered 503 at once.
    serve_max_connections: int = Field(512, ge=1, le=100_000)
    #: librdkafka properties from `KAFKA_<NAME>` variables; secrets are SecretStr.
    kafka: dict[str, SecretStr | str] = Field(default_factory=dict)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _normalise_case(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            return value.upper() if info.field_name == "log_level" else value.lower()
        return value

    @field_validator("carry_headers", mode="after")
    @classmethod
    def _check_header_names(cls, value: str) -> str:
        for name in value.split(","):
            name = name.strip()
            if name and (len(name) > 256 or not name.isprintable() or " " in name):
                raise ValueError(f"{name[:64]!r} is not a header name")
        return value

    @cached_property
    def carried_headers(self) -> frozenset[str]:
        """The lower-case names of the input headers a verdict carries (worked out once: the
        loop reads it every batch)."""
        extra = {name.strip().lower() for name in self.carry_headers.split(",")}
        return TRACE_HEADERS | (extra - {""})

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
            checked[prop] = SecretStr(raw) if is_secret(prop) else raw
        return check_security(checked)

    @model_validator(mode="after")
    def _check_group_stall(self) -> Settings:
        session_s = self.session_timeout_s()
        if self.group_stall_s is not None and self.group_stall_s < session_s:
            raise ValueError(
                f"GROUP_STALL_S must be at least the session timeout ({session_s:g} s, "
                "KAFKA_SESSION_TIMEOUT_MS): a join takes up to that long"
            )
        return self

    def session_timeout_s(self) -> float:
        """librdkafka's `session.timeout.ms` in seconds (its default when not set)."""
        raw = self.kafka_properties().get("session.timeout.ms", DEFAULT_SESSION_TIMEOUT_MS)
        try:
            return float(raw) / 1000
        except ValueError:
            return DEFAULT_SESSION_TIMEOUT_MS / 1000  # librdkafka refuses it at start-up

    def group_stall_bound_s(self) -> float:
        """GROUP_STALL_S, or GROUP_STALL_SESSIONS session timeouts when it is not set."""
        if self.group_stall_s is not None:
            return self.group_stall_s
        return GROUP_STALL_SESSIONS * self.session_timeout_s()

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
                or variable.startswith(PASSTHROUGH_PREFIX)
                or variable.lower() in _secret_field_names()
            )
            shown = "" if hidden or isinstance(given, Mapping) else f" (got {given!r})"
            problems.append(f"{variable}: {message}{shown}" if variable else message)
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
