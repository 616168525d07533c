"""A real Kafka-protocol broker for the session, fresh topics and groups per test.

The broker is, in order of preference: the cluster at `KAFKA_BOOTSTRAP_SERVERS` when that is
set; Apache Kafka in a container (testcontainers) when `TEST_BROKER=kafka-container` and a
Docker engine answers; otherwise the embedded Tansu broker (no Docker needed).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consumer.broker import EmbeddedBroker, create_topics
from tests.integration.kafka_helpers import WorkerProcess, client_properties

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if os.environ.get("TEST_BROKER") == "kafka-container":
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:3.9.1").with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker.bootstrap_servers


@dataclass(frozen=True)
class Topics:
    input: str
    output: str
    dlq: str
    group: str
    partitions: int


@pytest.fixture
def topics(bootstrap: str) -> Callable[..., Topics]:
    """Factory: uuid-named input/output/DLQ topics and a fresh consumer group."""

    def make(partitions: int = 4) -> Topics:
        suffix = uuid.uuid4().hex[:10]
        made = Topics(
            f"in-{suffix}", f"out-{suffix}", f"dlq-{suffix}", f"group-{suffix}", partitions
        )
        create_topics(
            bootstrap, [(made.input, partitions), (made.output, partitions), (made.dlq, 1)]
        )
        return made

    return make


@pytest.fixture
def worker_env(bootstrap: str, tiny_model_path: Path) -> Callable[..., dict[str, str]]:
    """Factory: the environment of a worker for given topics (settings as operators set them)."""

    def make(t: Topics, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "INPUT_TOPIC": t.input,
                "OUTPUT_TOPIC": t.output,
                "DLQ_TOPIC": t.dlq,
                "GROUP_ID": t.group,
                "MODEL_PATH": str(tiny_model_path),
                "METRICS_PORT": "0",
                "LOG_LEVEL": "INFO",
                "SHUTDOWN_TIMEOUT_S": "10",
                **{
                    "KAFKA_" + name.replace(".", "_").upper(): value
                    for name, value in client_properties().items()
                },
            }
        )
        env.update(overrides)
        return env

    return make


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(env: dict[str, str]) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
