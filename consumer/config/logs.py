"""structlog set-up: JSON lines (or a console renderer), bound context, no message text."""

from __future__ import annotations

import logging
import re
import sys
import time

import structlog

__all__ = ["RepeatFilter", "configure_logging", "get_logger"]


class RepeatFilter(logging.Filter):
    """Lets a message through at most once per `interval_s`: during a broker outage
    librdkafka reports the same refused connection many times a second."""

    def __init__(self, interval_s: float = 10.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # Drop librdkafka's millisecond timings so that repeats compare equal.
        message = re.sub(r"\d+ms", "", record.getMessage())
        now = time.monotonic()
        if now - self._last.get(message, -self.interval_s) < self.interval_s:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[message] = now
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the standard library (librdkafka's logger) to stderr."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # One write per line (message and newline together): the processes of `run
        # --processes N` share one stderr, and an appended line is then never split.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    kafka = logging.getLogger("librdkafka")
    kafka.filters[:] = [RepeatFilter()]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
