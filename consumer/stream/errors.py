"""Errors the Kafka clients report outside a record: logged, and fatal ones raised."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException

from consumer.config.logs import RepeatFilter, get_logger
from consumer.stream.health import Health

__all__ = ["ClientErrors"]

log = get_logger(__name__)


class ClientErrors:
    """The clients' error callback and the errors `consume`/`poll` hand over."""

    def __init__(self, health: Health) -> None:
        self._health = health
        #: A broker that stays down repeats the same error: logged once in a while.
        self._repeats = RepeatFilter()

    def on_client_error(self, error: KafkaError) -> None:
        """librdkafka's error callback (transport errors; the client recovers by itself)."""
        if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._health.broker_reachable = False
        if self._repeats.filter(
            logging.LogRecord("kafka", logging.ERROR, "", 0, error.str(), None, None)
        ):
            log.error("kafka client error", error=error.str(), fatal=error.fatal())

    @staticmethod
    def on_consume_error(error: KafkaError) -> None:
        """An error in place of a record: a fatal one stops the worker."""
        log.error("consume error", error=error.str(), fatal=error.fatal())
        if error.fatal():
            raise KafkaException(error)
