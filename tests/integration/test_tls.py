"""The worker over TLS, certificate verification on: the embedded broker behind a
TLS-terminating proxy that advertises itself, a CA and server certificate made here.

Shows that verdicts flow over TLS, and that a worker given the wrong CA, or speaking
plaintext to the TLS port, gets nothing through and says why."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from consumer.devkit.broker import EmbeddedBroker
from tests.conftest import Topics, fresh_topics
from tests.integration.conftest import RunWorker
from tests.kafka_helpers import produce, read_topic
from tests.tls import Authority, TlsProxy, free_port

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TlsBroker:
    address: str
    ca: Path
    proxy: TlsProxy

    @property
    def client(self) -> dict[str, str]:
        """librdkafka properties of a client that trusts the broker's CA."""
        return {"security.protocol": "SSL", "ssl.ca.location": str(self.ca)}


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    folder = tmp_path_factory.mktemp("tls")
    ca = Authority.create(folder / "ca")
    cert, key = ca.issue_server(folder)
    proxy_port = free_port()
    with (
        EmbeddedBroker(
            log_path=folder / "broker.log", advertised=f"localhost:{proxy_port}"
        ) as broker,
        TlsProxy(("127.0.0.1", broker.port), cert, key, port=proxy_port) as proxy,
    ):
        yield TlsBroker(proxy.address, ca.cert_path, proxy)


@pytest.fixture
def tls_topics(tls_broker: TlsBroker) -> Topics:
    return fresh_topics(tls_broker.address, 2, tls_broker.client)


def records(count: int) -> list[tuple[bytes | None, bytes | None, None]]:
    return [
        (f"k{i}".encode(), orjson.dumps({"id": f"tls-{i}", "text": f"hello number {i}"}), None)
        for i in range(count)
    ]


def test_the_worker_classifies_over_tls_with_the_certificate_verified(
    tls_broker: TlsBroker, tls_topics: Topics, run_worker: RunWorker
) -> None:
    t = tls_topics
    produce(tls_broker.address, t.input, records(40), config=tls_broker.client)
    worker = run_worker(topics=t, bootstrap=tls_broker.address, kafka=tls_broker.client)
    verdicts = read_topic(
        tls_broker.address, t.output, t.partitions, expect=40, config=tls_broker.client
    )
    assert sorted(str(v.json()["id"]) for v in verdicts) == sorted(f"tls-{i}" for i in range(40))
    status, _ = worker.probe("/readyz")
    assert status == 200
    assert worker.terminate()[0] == 0
    assert "certificate verify failed" not in worker.log()


def test_a_worker_that_does_not_trust_the_certificate_gets_nothing_through(
    tls_broker: TlsBroker, tls_topics: Topics, run_worker: RunWorker, tmp_path: Path
) -> None:
    t = tls_topics
    produce(tls_broker.address, t.input, records(5), config=tls_broker.client)
    other_ca = Authority.create(tmp_path / "other-ca", name="someone else's CA")
    worker = run_worker(
        topics=t,
        bootstrap=tls_broker.address,
        kafka={"security.protocol": "SSL", "ssl.ca.location": str(other_ca.cert_path)},
    )
    worker.wait_for_log("certificate verify failed")
    assert "ssl.ca.location" in worker.log(), "the error says which setting to look at"
    status, _ = worker.probe("/readyz")
    assert status == 503
    worker.terminate()
    assert (
        read_topic(tls_broker.address, t.output, t.partitions, config=tls_broker.client, settle_s=1)
        == []
    )


def test_plaintext_to_the_tls_port_is_refused_with_a_hint(
    tls_broker: TlsBroker, tls_topics: Topics, run_worker: RunWorker
) -> None:
    t = tls_topics
    produce(tls_broker.address, t.input, records(5), config=tls_broker.client)
    worker = run_worker(topics=t, bootstrap=tls_broker.address)
    worker.wait_for_log("as a TLS listener does to a plaintext client")
    assert "KAFKA_SECURITY_PROTOCOL=SSL" in worker.log()
    status, _ = worker.probe("/readyz")
    assert status == 503
    worker.terminate()
    assert (
        read_topic(tls_broker.address, t.output, t.partitions, config=tls_broker.client, settle_s=1)
        == []
    )
