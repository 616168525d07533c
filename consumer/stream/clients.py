"""librdkafka configuration for the worker's consumer and producer.

The properties that the delivery guarantees rest on are set here and cannot be overridden
(see `consumer.config.kafka.GUARANTEE_PROPERTIES`); everything else comes from `KAFKA_<NAME>`
variables.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer

from consumer.config.kafka import env_name_of_property
from consumer.config.logs import get_logger
from consumer.config.settings import Settings, SettingsError

__all__ = [
    "PlaintextToTlsHint",
    "build_consumer",
    "build_producer",
    "consumer_config",
    "producer_config",
    "producer_properties",
]

#: How librdkafka names the property at fault: `... property "x.y"`, `x.y failed: ...`
#: (a TLS file it could not use), or `` `x.y` is mandatory ...``.
_PROPERTY_IN_ERROR = re.compile(
    r'property[^"]*"(?P<quoted>[a-z0-9._-]+)"'
    r"|: (?P<failed>[a-z0-9._-]+\.[a-z0-9._-]+) failed:"
    r"|`(?P<ticked>[a-z0-9._-]+\.[a-z0-9._-]+)`",
    re.IGNORECASE,
)
#: librdkafka logs through this logger (structlog renders it).
_KAFKA_LOGGER = logging.getLogger("librdkafka")
log = get_logger(__name__)


class PlaintextToTlsHint(logging.Filter):
    """Says what librdkafka leaves unsaid. A TLS listener closes a plaintext client's
    connection at its first request, and librdkafka reports only a disconnect in state
    APIVERSION_QUERY; a worker configured for plaintext then names the likely fix, once."""

    def __init__(self) -> None:
        super().__init__()
        self.told = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.told:
            message = record.getMessage()
            if "Disconnected" in message and "APIVERSION_QUERY" in message:
                self.told = True
                log.error(
                    "the broker closed the connection at the first request, as a TLS listener "
                    "does to a plaintext client: if its listener uses TLS, set "
                    "KAFKA_SECURITY_PROTOCOL=SSL (or SASL_SSL) and KAFKA_SSL_CA_LOCATION",
                    security_protocol="PLAINTEXT or SASL_PLAINTEXT",
                )
        return True


# Properties of one client kind only; librdkafka warns when the other kind is given them,
# so the shared KAFKA_<NAME> passthrough leaves them out of the other client's config.
_CONSUMER_ONLY = (
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "auto.commit.interval.ms",
    "partition.assignment.strategy",
    "group.",
    "fetch.",
    "queued.",
    "isolation.level",
    "enable.partition.eof",
    "check.crcs",
    "coordinator.",
)
_PRODUCER_ONLY = (
    "linger.ms",
    "queue.buffering.",
    "batch.",
    "compression.",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "retries",
    "message.send.max.retries",
    "request.timeout.ms",
    "sticky.partitioning.linger.ms",
    "partitioner",
)


def _without(config: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if not key.startswith(prefixes)}


def consumer_config(settings: Settings) -> dict[str, Any]:
    return {
        "client.id": "content-classifier",
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        # How long the broker may hold a fetch that finds no new records. Apache Kafka answers
        # as soon as a record arrives, so this only sets how often an idle consumer asks; some
        # Kafka-compatible brokers (the embedded one) hold every such fetch for the full time,
        # which adds up to this much to the end-to-end latency of a record that arrives
        # meanwhile (librdkafka's default of 500 ms gave a p99 above 500 ms). Override with
        # KAFKA_FETCH_WAIT_MAX_MS, e.g. 500 against Apache Kafka for fewer idle fetches.
        "fetch.wait.max.ms": 10,
        # Lag, watermarks and broker state for metrics and readiness come from statistics.
        "statistics.interval.ms": 5000,
        **_without(settings.common_client_config(), _PRODUCER_ONLY),
        "group.id": settings.group_id,
        # Offsets are committed explicitly, only for records whose verdicts are acknowledged.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
    }


def producer_properties(settings: Settings) -> dict[str, Any]:
    """The passthrough properties that apply to a producer (for `produce` and tools)."""
    return _without(settings.common_client_config(), _CONSUMER_ONLY)


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        "client.id": "content-classifier",
        "linger.ms": 5,
        "compression.type": "lz4",
        **producer_properties(settings),
        "enable.idempotence": True,
        "acks": "all",
    }


def _built(factory: type[Any], config: dict[str, Any], **callbacks: Any) -> Any:
    """Construct a client; a bad `KAFKA_<NAME>` property fails naming the variable."""
    protocol = str(config.get("security.protocol", "PLAINTEXT")).upper()
    if protocol in {"PLAINTEXT", "SASL_PLAINTEXT"} and not any(
        isinstance(f, PlaintextToTlsHint) for f in _KAFKA_LOGGER.filters
    ):
        _KAFKA_LOGGER.addFilter(PlaintextToTlsHint())
    try:
        return factory({**config, "logger": _KAFKA_LOGGER, **callbacks})
    except KafkaException as exc:
        text = str(exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else exc)
        match = _PROPERTY_IN_ERROR.search(text)
        prop = match and (match["quoted"] or match["failed"] or match["ticked"])
        variable = env_name_of_property(prop) if prop else "a KAFKA_ variable"
        raise SettingsError(f"{variable}: {text}") from None


def build_consumer(settings: Settings, **callbacks: Any) -> Consumer:
    return _built(Consumer, consumer_config(settings), **callbacks)


def build_producer(settings: Settings, **callbacks: Any) -> Producer:
    return _built(Producer, producer_config(settings), **callbacks)
