from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import orjson
import pytest

from consumer.stream.health import Health, HealthServer
from consumer.stream.metrics import Metrics


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def served() -> Iterator[tuple[Health, Metrics, int]]:
    health, metrics = Health(), Metrics()
    server = HealthServer(health, metrics, port=0, host="127.0.0.1").start()
    yield health, metrics, server.port
    server.stop()


def test_ready_only_when_model_group_and_broker_are_all_there(
    served: tuple[Health, Metrics, int],
) -> None:
    health, _, port = served
    assert get(port, "/readyz")[0] == 503
    health.model_loaded = health.group_joined = health.broker_reachable = True
    code, body = get(port, "/readyz")
    assert code == 200
    assert orjson.loads(body)["status"] == "ok"
    health.broker_reachable = False
    code, body = get(port, "/readyz")
    assert code == 503 and orjson.loads(body)["broker_reachable"] is False


def test_healthz_fails_when_the_loop_stops_turning(served: tuple[Health, Metrics, int]) -> None:
    health, _, port = served
    assert get(port, "/healthz")[0] == 200
    health.last_turn = time.monotonic() - health.stall_after_s - 1
    assert get(port, "/healthz")[0] == 503
    assert get(port, "/nope")[0] == 404


def test_metrics_are_exposed_with_the_prefix(served: tuple[Health, Metrics, int]) -> None:
    _, metrics, port = served
    metrics.verdicts.labels("benign").inc(3)
    code, body = get(port, "/metrics")
    assert code == 200
    assert b'content_classifier_verdicts_total{label="benign"} 3.0' in body
    assert b"content_classifier_build_info" in body


def test_statistics_give_lag_per_assigned_partition() -> None:
    metrics = Metrics()
    stats = {
        "brokers": {"b:9092/1": {"state": "UP", "nodeid": 1}},
        "topics": {
            "in": {
                "partitions": {
                    "0": {"hi_offset": 100, "committed_offset": 40, "consumer_lag": 60},
                    "1": {"hi_offset": 10, "committed_offset": -1001, "consumer_lag": -1},
                    "2": {"hi_offset": 5, "committed_offset": 5, "consumer_lag": 0},
                    "-1": {"hi_offset": -1, "committed_offset": -1, "consumer_lag": -1},
                }
            }
        },
    }
    up = metrics.observe_statistics(stats, [("in", 0), ("in", 1)])
    assert up
    lag = metrics.registry.get_sample_value
    assert lag("content_classifier_consumer_lag", {"topic": "in", "partition": "0"}) == 60
    assert lag("content_classifier_consumer_lag", {"topic": "in", "partition": "1"}) == 10
    assert lag("content_classifier_consumer_lag", {"topic": "in", "partition": "2"}) is None
    metrics.forget_partitions([("in", 0)])
    assert lag("content_classifier_consumer_lag", {"topic": "in", "partition": "0"}) is None
    down = {"brokers": {"b:9092/1": {"state": "TRY_CONNECT", "nodeid": 1}}, "topics": {}}
    assert not metrics.observe_statistics(down, [])
