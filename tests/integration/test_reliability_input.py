"""The guarantees under hostile and bad input, against the real embedded broker: a poison
record is isolated, malformed and oversized records yield one dead letter each with bounded
memory, and dead letters are replayed once their cause is fixed. Faults:
test_reliability_faults.py.

Each test prints a `RELIABILITY {...}` line with its figures; docs/reliability.md records a
run (`make reliability`)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from consumer.contracts.messages import Verdict
from consumer.devkit.harness import WorkerProcess
from tests.corpus import MALFORMED, ODD_BUT_VALID
from tests.integration.conftest import RunWorker
from tests.integration.reliability_accounting import account
from tests.kafka_helpers import REPO, Record, produce, read_topic
from tests.models_for_tests import POISON, PoisonModel, save

pytestmark = pytest.mark.integration


def test_a_poison_record_is_isolated_and_the_partition_moves_on(
    bootstrap: str, run_worker: RunWorker, tmp_path: Path
) -> None:
    model = save(PoisonModel(), tmp_path / "poison-model", "poison")
    worker = run_worker(partitions=2, model=model)
    t = worker.topics
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
    bootstrap: str, run_worker: RunWorker
) -> None:
    assert len(MALFORMED) >= 30
    worker = run_worker(partitions=4, assigned=1)
    t = worker.topics

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


def test_replay_dlq_sends_dead_letters_back_after_the_cause_is_fixed(
    bootstrap: str, run_worker: RunWorker, tmp_path: Path
) -> None:
    broken = save(PoisonModel(), tmp_path / "poison-model", "poison")
    worker = run_worker(partitions=2, model=broken)
    t, env = worker.topics, worker.env
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
    fixed = run_worker(topics=t, assigned=1)

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
