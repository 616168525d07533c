"""The guarantees under faults, against the real embedded broker: a worker killed mid-stream,
a rebalance storm, a model slower than the poll interval, a full producer queue, a broker
outage. Hostile and bad input: test_reliability_input.py.

Each test prints a `RELIABILITY {...}` line with its figures; docs/reliability.md records a
run (`make reliability`)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from consumer.devkit.broker import EmbeddedBroker
from consumer.devkit.harness import WorkerProcess
from tests.integration.conftest import RunWorker
from tests.integration.reliability_accounting import account, outcomes
from tests.kafka_helpers import (
    BackgroundStream,
    committed_offsets,
    partition_ends,
    produce,
    read_topic,
)
from tests.models_for_tests import SignallingModel, SlowModel, save
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

BATCH = 200


def partitions_held(worker: WorkerProcess) -> set[int]:
    """The partitions a worker held at the end of its log (assigned minus revoked/lost)."""
    held: set[int] = set()
    for event in worker.events("partitions assigned", "partitions revoked", "partitions lost"):
        if event["event"] == "partitions assigned":
            held |= set(event["partitions"])
        else:
            held -= set(event["partitions"])
    return held


def wait_for_status(worker: WorkerProcess, path: str, status: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        code, body = worker.probe(path)
        if code == status:
            return
        assert time.monotonic() < deadline, f"{path} stayed {code}: {body!r}"
        time.sleep(0.25)


def test_sigkill_mid_stream_loses_nothing(bootstrap: str, run_worker: RunWorker) -> None:
    victim = run_worker(partitions=4, BATCH_MAX_MESSAGES=str(BATCH))
    survivor = run_worker(like=victim)
    t = victim.topics
    for worker in (victim, survivor):
        worker.wait_for_event("partitions assigned")
    stream = BackgroundStream(bootstrap, t.input, chunk=500, pause_s=0.1, total=20_000).start()
    time.sleep(2.5)
    held = partitions_held(victim)
    victim.kill()  # SIGKILL: no revoke, no commit, no goodbye
    restarted = run_worker(like=victim)
    sent = stream.wait()
    assert len(sent) == 20_000
    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=len(sent), timeout_s=120)
    figures = account("sigkill", t, sent, verdicts, [])
    # Only the batches in flight at the kill are redone.
    assert figures["duplicates"] <= BATCH * max(1, len(held))
    seen = outcomes(t, verdicts, [])
    assert {p for (p, _), n in seen.items() if n > 1} <= held
    for worker in (survivor, restarted):
        assert worker.terminate()[0] == 0


def test_rebalance_storm_loses_nothing(bootstrap: str, run_worker: RunWorker) -> None:
    steady = run_worker(partitions=4, assigned=1, BATCH_MAX_MESSAGES=str(BATCH))
    t = steady.topics
    stream = BackgroundStream(bootstrap, t.input, chunk=200, pause_s=0.05).start()
    cycles = 3
    codes = []
    try:
        for _ in range(cycles):
            joiner = run_worker(like=steady, assigned=1)
            time.sleep(1.0)
            codes.append(joiner.terminate()[0])
            time.sleep(0.5)
    finally:
        sent = stream.stop()
    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=len(sent), timeout_s=120)
    figures = account("rebalance storm", t, sent, verdicts, [])
    assert codes == [0] * cycles, "a leaving member exits 0 every time"
    assert steady.returncode is None, "the steady member never crashed"
    # Each join and each leave may redo at most one batch per partition that moved.
    assert figures["duplicates"] <= BATCH * t.partitions * 2 * cycles
    assert "Traceback" not in steady.log()
    assert steady.terminate()[0] == 0


def test_a_slow_model_never_exceeds_the_poll_interval(
    bootstrap: str, run_worker: RunWorker, tmp_path: Path
) -> None:
    model = save(SlowModel(8.0), tmp_path / "slow-model", "slow")
    # Each batch takes 8 s, longer than max.poll.interval.ms: only polling while the model
    # runs keeps the worker in its group.
    worker = run_worker(
        partitions=2,
        model=model,
        assigned=1,
        BATCH_MAX_MESSAGES="100",
        KAFKA_MAX_POLL_INTERVAL_MS="6000",
        SHUTDOWN_TIMEOUT_S="15",
    )
    t = worker.topics
    sent = produce(
        bootstrap, t.input, ((None, orjson.dumps({"text": f"s{i}"}), None) for i in range(150))
    )
    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=150, timeout_s=90, settle_s=3)
    figures = account("slow model", t, sent, verdicts, [])
    assert figures["duplicates"] == 0
    log = worker.log()
    assert "maximum poll interval" not in log.lower()
    assert "partitions lost" not in log and "partitions revoked" not in log
    assert worker.terminate(timeout_s=30)[0] == 0


def test_a_full_producer_queue_pauses_instead_of_buffering(
    bootstrap: str, run_worker: RunWorker
) -> None:
    worker = run_worker(
        partitions=4, BATCH_MAX_MESSAGES="500", KAFKA_QUEUE_BUFFERING_MAX_MESSAGES="20"
    )
    t = worker.topics
    records = ((f"k{i % 8}".encode(), orjson.dumps({"text": f"q{i}"}), None) for i in range(5000))
    sent = produce(bootstrap, t.input, records)
    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=5000, timeout_s=120)
    figures = account("full producer queue", t, sent, verdicts, [])
    assert figures["duplicates"] == 0
    assert worker.terminate()[0] == 0


def test_a_broker_outage_pauses_the_work_and_loses_nothing(
    run_worker: RunWorker, tmp_path: Path
) -> None:
    """The worker's connections go through a proxy that is cut for 12 s while a batch is being
    classified: its deliveries time out (message.timeout.ms is 4 s), the partitions back off
    and are retried, nothing is committed beyond what was delivered, and the worker resumes
    by itself once the broker is back."""
    proxy = TcpProxy(("127.0.0.1", 0))
    with EmbeddedBroker(log_path=tmp_path / "broker.log", advertised=proxy.address) as broker:
        proxy.target = ("127.0.0.1", broker.port)
        proxy.start()
        try:
            bootstrap = proxy.address
            signal_file = tmp_path / "classifying"
            model = save(SignallingModel(1.0, str(signal_file)), tmp_path / "model", "signal")
            worker = run_worker(
                partitions=2,
                bootstrap=bootstrap,
                model=model,
                assigned=1,
                BATCH_MAX_MESSAGES="500",
                KAFKA_MESSAGE_TIMEOUT_MS="4000",
            )
            t = worker.topics
            wait_for_status(worker, "/readyz", 200)
            stream = BackgroundStream(bootstrap, t.input, chunk=250, pause_s=0.1, total=6000)
            stream.start()
            time.sleep(1.0)
            signal_file.unlink(missing_ok=True)
            while not signal_file.exists():
                time.sleep(0.01)
            proxy.cut()
            cut_at = time.monotonic()
            wait_for_status(worker, "/readyz", 503, timeout_s=11)
            assert worker.probe("/healthz")[0] == 200, "alive, though not ready"
            time.sleep(max(0.0, 12 - (time.monotonic() - cut_at)))
            assert worker.returncode is None, "the worker survives the outage"
            proxy.restore()
            sent = stream.wait()
            verdicts = read_topic(bootstrap, t.output, 2, expect=len(sent), timeout_s=120)
            figures = account("broker outage", t, sent, verdicts, [])
            failures = worker.log().count('"delivery failed"')
            print(
                "RELIABILITY",
                orjson.dumps({"scenario": "broker outage", "failed_deliveries": failures}).decode(),
            )
            ends = partition_ends(sent)
            deadline = time.monotonic() + 30
            while committed_offsets(bootstrap, t.group, t.input, 2) != ends:
                assert time.monotonic() < deadline, "the worker did not resume committing"
                time.sleep(1)
            assert figures["lost"] == 0
            wait_for_status(worker, "/readyz", 200, timeout_s=30)
            assert failures > 0, "the outage caught deliveries in flight"
            assert "partition paused to retry undelivered outputs" in worker.log()
            assert worker.terminate()[0] == 0
        finally:
            proxy.stop()
