"""The worker end to end on a real broker: thousands of records over 4 partitions with
malformed records mixed in, read back and checked record by record."""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict

import orjson
import pytest

from consumer.contracts.messages import Verdict
from tests.conftest import Topics, labelled_texts
from tests.corpus import MALFORMED
from tests.integration.conftest import RunWorker
from tests.kafka_helpers import (
    BackgroundStream,
    Output,
    Sent,
    committed_offsets,
    partition_ends,
    produce,
    read_topic,
)

pytestmark = pytest.mark.integration

GOOD = 4000
KEYS = 40


def make_stream(
    seed: int = 3,
) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]]:
    rng = random.Random(seed)
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]] = []
    for number, (text, _label) in enumerate(labelled_texts(GOOD, seed)):
        message: dict[str, object] = {"text": text}
        if number % 2:
            message["id"] = f"msg-{number}"
        if number % 7 == 0:
            message["metadata"] = {"tenant": "t1"}
        key = f"user-{rng.randrange(KEYS)}".encode() if number % 5 else None
        records.append((key, orjson.dumps(message), [("trace-id", str(number).encode())]))
    kinds = list(MALFORMED.items())
    for copy in range(8):
        for kind, value in kinds:
            headers = [("kind", kind.encode()), ("empty-header", None)] if copy % 2 else None
            key = f"user-{rng.randrange(KEYS)}".encode() if copy % 3 else None
            records.insert(rng.randrange(len(records)), (key, value, headers))
    return records


def verdict_of(output: Output) -> Verdict:
    return Verdict.model_validate_json(output.value or b"")


def check_exactly_once(
    t: Topics, sent: list[Sent], verdicts: list[Output], dead: list[Output]
) -> None:
    inputs = {(s.partition, s.offset): s for s in sent}
    seen: Counter[tuple[int, int]] = Counter()
    for out in verdicts:
        v = verdict_of(out)
        assert v.source is not None and v.source.topic == t.input
        seen[(v.source.partition, v.source.offset)] += 1
    for out in dead:
        headers = dict(out.headers or [])
        seen[
            (
                int(headers["__classifier.errors.partition"] or b""),
                int(headers["__classifier.errors.offset"] or b""),
            )
        ] += 1
    doubled = {k: n for k, n in seen.items() if n > 1}
    assert not doubled, f"{len(doubled)} inputs have more than one output"
    missing = set(inputs) - set(seen)
    assert not missing, f"{len(missing)} inputs have no output"
    assert set(seen) == set(inputs)


def send_and_check(
    bootstrap: str, t: Topics, seed: int = 3
) -> tuple[list[Sent], list[Output], list[Output]]:
    """Produce the mixed stream (`make_stream`), read a verdict for every good record and a
    dead letter for every malformed one, and check each input has exactly one output."""
    stream = make_stream(seed=seed)
    sent = produce(bootstrap, t.input, stream)
    assert len(sent) == len(stream)
    n_bad = 8 * len(MALFORMED)
    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=len(sent) - n_bad)
    dead = read_topic(bootstrap, t.dlq, 1, expect=n_bad)
    check_exactly_once(t, sent, verdicts, dead)
    return sent, verdicts, dead


def test_a_stream_with_malformed_records(bootstrap: str, run_worker: RunWorker) -> None:
    worker = run_worker(partitions=4, SHUTDOWN_TIMEOUT_S="10")
    t = worker.topics
    # Exactly one verdict or dead letter for every input.
    sent, verdicts, dead = send_and_check(bootstrap, t)
    assert len(verdicts) == GOOD
    assert len(dead) == 8 * len(MALFORMED)

    by_position = {(s.partition, s.offset): s for s in sent}
    # Verdict ids: the input's id, or topic:partition:offset; keys: the input key or the id.
    for out in verdicts:
        v = verdict_of(out)
        assert v.source is not None
        source = by_position[(v.source.partition, v.source.offset)]
        message = orjson.loads(source.value or b"")
        expected_id = message.get("id") or f"{t.input}:{v.source.partition}:{v.source.offset}"
        assert v.id == expected_id
        assert out.key == (source.key if source.key is not None else expected_id.encode())
        assert v.label in {"benign", "malicious"}
        assert v.model.name == "tiny" and v.model.version == "9.9.9"

    # Dead letters: byte-identical key, value, headers and timestamp, plus the error headers.
    for out in dead:
        headers = list(out.headers or [])
        errors = {k: v for k, v in headers if k.startswith("__classifier.errors.")}
        own = [(k, v) for k, v in headers if not k.startswith("__classifier.errors.")]
        source = by_position[
            (
                int(errors["__classifier.errors.partition"] or b""),
                int(errors["__classifier.errors.offset"] or b""),
            )
        ]
        assert out.value == source.value
        assert out.key == source.key
        assert own == list(source.headers or [])
        assert out.timestamp == source.timestamp
        assert errors["__classifier.errors.topic"] == t.input.encode()
        assert errors["__classifier.errors.stage"] in {b"decode", b"validate"}
        assert errors["__classifier.errors.group.id"] == t.group.encode()
        assert errors["__classifier.errors.exception.class.name"]
        assert errors["__classifier.errors.exception.message"]
        assert errors["__classifier.errors.failed_at"]

    # Per-key order: verdicts of one key appear in the order of their inputs.
    order: dict[bytes, list[int]] = defaultdict(list)
    for out in verdicts:
        v = verdict_of(out)
        assert v.source is not None
        source = by_position[(v.source.partition, v.source.offset)]
        if source.key is not None:
            order[source.key].append(v.source.offset)
    assert len(order) == KEYS
    for key, offsets in order.items():
        assert offsets == sorted(offsets), f"verdicts of key {key!r} out of order"

    # SIGTERM: finish, commit, leave, exit 0 within SHUTDOWN_TIMEOUT_S.
    code, seconds = worker.terminate()
    assert code == 0, worker.log()[-3000:]
    assert seconds < 10
    ends = partition_ends(sent)
    assert committed_offsets(bootstrap, t.group, t.input, t.partitions) == ends


def test_two_workers_share_the_partitions(bootstrap: str, run_worker: RunWorker) -> None:
    first = run_worker(partitions=4)
    second = run_worker(like=first)
    t = first.topics
    for worker in (first, second):
        worker.wait_for_event("partitions assigned")
    sent, _, _ = send_and_check(bootstrap, t, seed=11)

    processed = []
    for worker in (first, second):
        code, _ = worker.terminate()
        assert code == 0
        [stopped] = worker.events("worker stopped")
        processed.append(stopped["records"])
    assert all(count > 0 for count in processed), f"a worker got no partition: {processed}"
    assert sum(processed) == len(sent)
    ends = partition_ends(sent)
    assert committed_offsets(bootstrap, t.group, t.input, t.partitions) == ends


def test_a_member_joining_mid_stream_takes_over_without_loss_or_duplicates(
    bootstrap: str, run_worker: RunWorker
) -> None:
    """Cooperative-sticky rebalance: the first member commits what it finished for the
    partitions it gives up, so the newcomer neither redoes nor skips a record."""
    first = run_worker(partitions=4, assigned=1, BATCH_MAX_MESSAGES="50", BATCH_MAX_WAIT_MS="20")
    t = first.topics
    stream = BackgroundStream(bootstrap, t.input, chunk=100).start()
    try:
        time.sleep(2)
        second = run_worker(like=first, assigned=1)
        first.wait_for_log("partitions revoked")
        time.sleep(2)
    finally:
        sent = stream.stop()
    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=len(sent))
    check_exactly_once(t, sent, verdicts, [])
    for worker in (first, second):
        code, _ = worker.terminate()
        assert code == 0
    assert "commit failed" not in first.log()


def test_run_with_processes_starts_members_of_one_group(
    bootstrap: str, run_worker: RunWorker
) -> None:
    """`run --processes 2`: two workers share the partitions; SIGTERM stops both cleanly."""
    worker = run_worker(partitions=4, command=("run", "--processes", "2"), assigned=2)
    t = worker.topics
    sent, _, _ = send_and_check(bootstrap, t, seed=5)
    code, _ = worker.terminate()
    assert code == 0, worker.log()[-3000:]
    stopped = [event["records"] for event in worker.events("worker stopped")]
    assert len(stopped) == 2 and all(count > 0 for count in stopped), stopped
    assert sum(stopped) == len(sent)
    assert committed_offsets(bootstrap, t.group, t.input, t.partitions) == partition_ends(sent)
