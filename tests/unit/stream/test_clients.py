from __future__ import annotations

import logging

from structlog.testing import capture_logs

from consumer.stream.clients import PlaintextToTlsHint


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("librdkafka", logging.INFO, __file__, 1, message, None, None)


def test_a_disconnect_at_the_first_request_names_the_tls_settings_once() -> None:
    hint = PlaintextToTlsHint()
    disconnect = (
        "FAIL [content-classifier#consumer-1] [thrd:b:9093/bootstrap]: b:9093/bootstrap: "
        "Disconnected: connection closed by peer: receive 0 after POLLIN "
        "(after 0ms in state APIVERSION_QUERY)"
    )
    with capture_logs() as logs:
        assert hint.filter(record("CONNECT [thrd:b:9093/bootstrap]: connecting")) is True
        assert logs == []
        assert hint.filter(record(disconnect)) is True, "librdkafka's own line still shows"
        hint.filter(record(disconnect))
    assert len(logs) == 1
    assert "KAFKA_SECURITY_PROTOCOL=SSL" in logs[0]["event"]
