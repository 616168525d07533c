"""The garbage collector's settings (`consumer.stream.collector`)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest

from consumer.stream.collector import settle_collector
from tests.fakes import make_worker, record, text


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def collections_during(work: Callable[[], object]) -> int:
    """How many times the cyclic collector ran while `work` ran."""
    runs = [0]

    def count(phase: str, _info: dict[str, int]) -> None:
        runs[0] += phase == "start"

    gc.callbacks.append(count)
    try:
        work()
    finally:
        gc.callbacks.remove(count)
    return runs[0]


def test_settle_collector_keeps_a_batch_out_of_the_collector(collector_restored: None) -> None:
    batch = [record(offset, text(f"message {offset}")) for offset in range(500)]
    worker, _, _ = make_worker([])
    worker.process(batch)  # warm-up: first-call allocations

    gc.set_threshold(700, 10, 10)  # Python's default: a batch's records trigger collections
    assert collections_during(lambda: worker.process(batch)) > 0

    settle_collector(worker.settings.batch_max_messages)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] >= 20 * worker.settings.batch_max_messages
    assert collections_during(lambda: worker.process(batch)) == 0
