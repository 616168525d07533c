"""The guarantees under faults and hostile input, against the real embedded broker.

Each test prints a `RELIABILITY {...}` line with its figures; docs/reliability.md records a
run (`make reliability`)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from consumer.contracts.messages import Verdict
from consumer.devkit.broker import EmbeddedBroker, create_topics
from consumer.devkit.harness import WorkerProcess
from tests.conftest import Topics
from tests.corpus import MALFORMED, ODD_BUT_VALID
from tests.kafka_helpers import (
    REPO,
    BackgroundStream,
    Output,
    Record,
    Sent,
    committed_offsets,
    partition_ends,
    produce,
    read_topic,
)
from tests.models_for_tests import POISON, PoisonModel, SignallingModel, SlowModel, save
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

BATCH = 200


def outcomes(t: Topics, verdicts: list[Output], dead: list[Output]) -> Counter[tuple[int, int]]:
    """How many outputs each input (partition, offset) got."""
    seen: Counter[tuple[int, int]] = Counter()
    for out in verdicts:
        v = Verdict.model_validate_json(out.value or b"")
        assert v.source.topic == t.input
        seen[(v.source.partition, v.source.offset)] += 1
    for out in dead:
        headers = dict(out.headers or [])
        partition = int(headers["__classifier.errors.partition"] or b"")
        offset = int(headers["__classifier.errors.offset"] or b"")
        seen[(partition, offset)] += 1
    return seen


def account(
    name: str, t: Topics, sent: list[Sent], verdicts: list[Output], dead: list[Output]
) -> dict[str, int]:
    """Assert nothing was lost; return the figures (duplicates are counted, not forbidden)."""
    seen = outcomes(t, verdicts, dead)
    inputs = {(s.partition, s.offset) for s in sent}
    missing = inputs - set(seen)
    assert not missing, f"{len(missing)} of {len(inputs)} inputs have no verdict or dead letter"
    assert set(seen) == inputs, "outputs for inputs that were never sent"
    figures = {
        "inputs": len(inputs),
        "verdicts": len(verdicts),
        "dead_letters": len(dead),
        "lost": len(missing),
        "duplicates": sum(n - 1 for n in seen.values()),
    }
    print("RELIABILITY", orjson.dumps({"scenario": name, **figures}).decode())
    return figures


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


def test_sigkill_mid_stream_loses_nothing(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
) -> None:
    t = topics(partitions=4)
    env = worker_env(t, BATCH_MAX_MESSAGES=str(BATCH))
    victim, survivor = start_worker(env), start_worker(env)
    for worker in (victim, survivor):
        worker.wait_for_event("partitions assigned")
    stream = BackgroundStream(bootstrap, t.input, chunk=500, pause_s=0.1, total=20_000).start()
    time.sleep(2.5)
    held = partitions_held(victim)
    victim.kill()  # SIGKILL: no revoke, no commit, no goodbye
    restarted = start_worker(env)
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


def test_rebalance_storm_loses_nothing(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
) -> None:
    t = topics(partitions=4)
    env = worker_env(t, BATCH_MAX_MESSAGES=str(BATCH))
    steady = start_worker(env)
    steady.wait_for_event("partitions assigned")
    stream = BackgroundStream(bootstrap, t.input, chunk=200, pause_s=0.05).start()
    cycles = 3
    codes = []
    try:
        for _ in range(cycles):
            joiner = start_worker(env)
            joiner.wait_for_event("partitions assigned")
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


def test_a_poison_record_is_isolated_and_the_partition_moves_on(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    t = topics(partitions=2)
    model = save(PoisonModel(), tmp_path / "poison-model", "poison")
    worker = start_worker(worker_env(t, MODEL_PATH=str(model)))
    records = [
        (
            b"same-key",
            orjson.dumps({"id": f"r{i}", "text": POISON if i % 250 == 7 else f"t{i}"}),
            None,
        )
        for i in range(2000)
    ]
    sent = produce(bootstrap, t.input, records)
    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=2000 - 8)
    dead = read_topic(bootstrap, t.dlq, 1, expect=8)
    account("poison", t, sent, verdicts, dead)
    assert len(dead) == 8 and len(verdicts) == 1992
    for out in dead:
        headers = dict(out.headers or [])
        assert headers["__classifier.errors.stage"] == b"classify"
        assert headers["__classifier.errors.model.version"] == b"0.0.1-test"
        assert headers["__classifier.errors.exception.class.name"] == b"RuntimeError"
        assert POISON.encode() in (out.value or b"")
    assert worker.terminate()[0] == 0


def rss_kib(worker: WorkerProcess) -> int:
    status = Path(f"/proc/{worker.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def test_hostile_input_yields_one_dead_letter_each_and_memory_stays_bounded(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
) -> None:
    assert len(MALFORMED) >= 30
    t = topics(partitions=4)
    worker = start_worker(worker_env(t))
    worker.wait_for_event("partitions assigned")

    def round_of_records() -> list[
        tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]
    ]:
        records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]] = []
        for kind, value in MALFORMED.items():
            records.append((kind.encode(), value, [("kind", kind.encode())]))
        for kind, value in ODD_BUT_VALID.items():
            records.append((kind.encode(), value, [("kind", kind.encode())]))
        # Values near the broker's size limit: one that fits with the dead-letter headers,
        # one whose dead letter does not (the broker's limit is about 1,000,000 bytes).
        records.append((b"near limit", b"{" + b" " * 900_000 + b"}", None))
        records.append((b"at limit", b"x" * 999_800, None))
        return records

    sent = produce(bootstrap, t.input, round_of_records())
    per_round_dead = len(MALFORMED) + 2
    read_topic(bootstrap, t.dlq, 1, expect=per_round_dead)
    baseline = rss_kib(worker)
    rounds = 15
    for _ in range(rounds):
        sent += produce(bootstrap, t.input, round_of_records())
    total_dead = per_round_dead * (rounds + 1)
    dead = read_topic(bootstrap, t.dlq, 1, expect=total_dead, timeout_s=120)
    verdicts = read_topic(
        bootstrap, t.output, t.partitions, expect=len(ODD_BUT_VALID) * (rounds + 1)
    )
    figures = account("hostile input", t, sent, verdicts, dead)
    assert figures["duplicates"] == 0
    assert len(verdicts) == len(ODD_BUT_VALID) * (rounds + 1)
    kinds = Counter(dict(out.headers or []).get("kind", b"") or out.key for out in dead)
    for kind in MALFORMED:
        assert kinds[kind.encode()] == rounds + 1, kind
    reduced = [out for out in dead if out.key == b"at limit"]
    assert all(out.value is None for out in reduced), "too large to dead-letter whole"
    assert all(
        dict(out.headers or [])["__classifier.errors.stage"] == b"produce" for out in reduced
    )
    whole = [out for out in dead if out.key == b"near limit"]
    assert all(len(out.value or b"") == 900_002 for out in whole)
    growth_mib = (rss_kib(worker) - baseline) / 1024
    print(
        "RELIABILITY",
        orjson.dumps(
            {"scenario": "hostile memory", "rss_growth_mib": round(growth_mib, 1)}
        ).decode(),
    )
    assert growth_mib < 64, f"RSS grew by {growth_mib:.0f} MiB over {rounds} rounds"
    assert worker.returncode is None
    assert worker.terminate()[0] == 0


def test_a_slow_model_never_exceeds_the_poll_interval(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    t = topics(partitions=2)
    model = save(SlowModel(8.0), tmp_path / "slow-model", "slow")
    # Each batch takes 8 s, longer than max.poll.interval.ms: only polling while the model
    # runs keeps the worker in its group.
    env = worker_env(
        t,
        MODEL_PATH=str(model),
        BATCH_MAX_MESSAGES="100",
        KAFKA_MAX_POLL_INTERVAL_MS="6000",
        SHUTDOWN_TIMEOUT_S="15",
    )
    worker = start_worker(env)
    worker.wait_for_event("partitions assigned")
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
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
) -> None:
    t = topics(partitions=4)
    env = worker_env(t, BATCH_MAX_MESSAGES="500", KAFKA_QUEUE_BUFFERING_MAX_MESSAGES="20")
    worker = start_worker(env)
    records = ((f"k{i % 8}".encode(), orjson.dumps({"text": f"q{i}"}), None) for i in range(5000))
    sent = produce(bootstrap, t.input, records)
    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=5000, timeout_s=120)
    figures = account("full producer queue", t, sent, verdicts, [])
    assert figures["duplicates"] == 0
    assert worker.terminate()[0] == 0


def test_a_broker_outage_pauses_the_work_and_loses_nothing(
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
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
            name = tmp_path.name[-20:].replace("_", "-")
            t = Topics(f"in-{name}", f"out-{name}", f"dlq-{name}", f"g-{name}", 2)
            create_topics(bootstrap, [(t.input, 2), (t.output, 2), (t.dlq, 1)])
            signal_file = tmp_path / "classifying"
            model = save(SignallingModel(1.0, str(signal_file)), tmp_path / "model", "signal")
            env = worker_env(
                t,
                KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                MODEL_PATH=str(model),
                BATCH_MAX_MESSAGES="500",
                KAFKA_MESSAGE_TIMEOUT_MS="4000",
            )
            worker = start_worker(env)
            worker.wait_for_event("partitions assigned")
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


def test_replay_dlq_sends_dead_letters_back_after_the_cause_is_fixed(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    t = topics(partitions=2)
    broken = save(PoisonModel(), tmp_path / "poison-model", "poison")
    env = worker_env(t, MODEL_PATH=str(broken))
    worker = start_worker(env)
    poison: list[Record] = [
        (
            f"key-{i}".encode(),
            orjson.dumps({"id": f"p{i}", "text": f"{POISON} {i}"}),
            [("trace", f"t{i}".encode())],
        )
        for i in range(3)
    ]
    fine: list[Record] = [
        (None, orjson.dumps({"id": f"f{i}", "text": f"fine {i}"}), None) for i in range(20)
    ]
    malformed: list[Record] = [(b"bad", b"not json", None)]
    produce(bootstrap, t.input, poison + fine + malformed)
    read_topic(bootstrap, t.dlq, 1, expect=4)
    assert worker.terminate()[0] == 0

    # The cause is fixed: a model that does not crash on the marker.
    fixed = start_worker(worker_env(t))
    fixed.wait_for_event("partitions assigned")

    def replay(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "consumer", "replay-dlq", "--idle-s", "3", *args],
            env=env,
            capture_output=True,
            timeout=120,
            cwd=REPO,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode()

    dry = replay("--stage", "classify", "--dry-run")
    assert "would replay 3" in dry and "other stage=1" in dry
    assert replay("--stage", "classify", "--limit", "2").count("replayed 2") == 1
    assert "replayed 1 " in replay("--stage", "classify")
    assert "replayed 0 " in replay("--stage", "classify"), "what was replayed is not sent again"

    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=23)
    ids = Counter(Verdict.model_validate_json(v.value or b"").id for v in verdicts)
    assert all(ids[f"p{i}"] == 1 for i in range(3))
    replayed = [
        out
        for out in read_topic(bootstrap, t.input, t.partitions, expect=24 + 3)
        if out.key and out.key.startswith(b"key-")
    ]
    assert len(replayed) == 6, "3 originals and 3 replays"
    for key in {out.key for out in replayed}:
        original, again = sorted((o for o in replayed if o.key == key), key=lambda o: o.offset)
        assert (again.value, again.headers) == (original.value, original.headers)
    assert fixed.terminate()[0] == 0
