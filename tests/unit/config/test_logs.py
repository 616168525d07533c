from __future__ import annotations

import io
import logging

import orjson
import pytest
import structlog

from consumer.config.logs import configure_logging, get_logger


class Writes(io.StringIO):
    """A stream that keeps every write() call apart."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return super().write(text)


def test_each_log_line_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes share one stderr (`run --processes N`): a line written in two parts
    can be split by another process's line, which makes both unreadable JSON."""
    stream = Writes()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", "json")
    try:
        get_logger("test").info("record dead-lettered", partition=1, offset=391)
        logging.getLogger("librdkafka").warning("a client message")
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
    assert len(stream.calls) == 2, stream.calls
    for call in stream.calls:
        assert call.endswith("\n") and call.count("\n") == 1
        orjson.loads(call)
