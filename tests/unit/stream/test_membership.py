"""The group stall heal's clocks and steps (`consumer.stream.membership`), and the loop that
acts on them: rejoin with a new consumer, then not live, then live again once settled."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from confluent_kafka import TopicPartition

import consumer.stream.worker as worker_module
from consumer.stream.membership import Membership, Step
from tests.fakes import FakeConsumer, make_worker, record, stop_after_first_batch, text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stats(join_state: str) -> dict[str, Any]:
    return {"cgrp": {"state": "up", "join_state": join_state}}


def test_a_settled_member_without_partitions_is_idle_not_stalled() -> None:
    clock = Clock()
    membership = Membership(30, clock)
    membership.observe(stats("steady"), holding=False)
    clock.now += 600
    membership.observe(stats("steady"), holding=False)
    assert membership.step() is Step.NONE
    assert membership.unsettled_s() == 0
    assert membership.unassigned_s() == 600


def test_unsettled_for_the_bound_rejoins_once_then_twice_the_bound_is_not_live() -> None:
    clock = Clock()
    membership = Membership(30, clock)
    membership.observe(stats("steady"), holding=True)
    clock.now += 5
    membership.observe(stats("wait-join"), holding=True)  # a rebalance starts here
    clock.now += 30
    assert membership.step() is Step.NONE
    assert membership.unsettled_s() == 30
    clock.now += 1
    assert membership.step() is Step.REJOIN
    membership.subscribed()
    membership.holding(False)
    assert membership.step() is Step.NONE  # the clock keeps running: one rejoin
    clock.now += 30
    assert membership.step() is Step.NOT_LIVE
    assert membership.stalled
    clock.now += 100
    assert membership.step() is Step.NONE
    assert membership.unassigned_s() == 130
    membership.observe(stats("steady"), holding=False)
    assert not membership.stalled and membership.unsettled_s() == 0
    membership.observe(stats("wait-sync"), holding=False)
    clock.now += 31
    assert membership.step() is Step.REJOIN  # settled in between: it may rejoin again


def test_a_member_that_never_settles_after_subscribing_counts_from_the_subscribe() -> None:
    clock = Clock()
    membership = Membership(10, clock)
    for _ in range(3):
        clock.now += 4
        membership.observe(stats("wait-join"), holding=False)
    assert membership.unsettled_s() == 12 and membership.unassigned_s() == 12
    assert membership.step() is Step.REJOIN


def test_statistics_without_a_group_change_nothing() -> None:
    clock = Clock()
    membership = Membership(10, clock)
    membership.settled()
    membership.observe({"brokers": {}}, holding=True)
    clock.now += 60
    assert membership.step() is Step.NONE


def test_the_loop_rejoins_with_a_new_consumer_then_reports_not_live_until_settled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(worker_module, "Membership", lambda bound: Membership(bound, clock))
    worker, first, _ = make_worker([], connect=False)
    second = FakeConsumer()
    consumers = iter([first, second])
    worker._consumer_factory = lambda **_: next(consumers)
    worker.connect()
    worker.rebalance.on_assign(first, [TopicPartition("in", p) for p in range(3)])
    worker.process([record(0, text("m")), record(1, text("m"))])
    bound = worker.regroup.membership.bound_s
    assert bound == 180.0

    worker._on_stats(orjson.dumps(stats("wait-join")).decode())
    clock.now += bound + 1
    worker._mind_group()
    assert first.closed and worker.consumer is second and second.callbacks
    assert ("in", 0, 2) in [c for commit in first.commits for c in commit]
    assert not worker.assigned
    assert worker.metrics.group_rejoins._value.get() == 1
    assert worker.health.live()[0]

    clock.now += bound
    worker._on_stats(orjson.dumps(stats("wait-sync")).decode())
    assert worker.metrics.group_unsettled._value.get() == 2 * bound + 1
    assert worker.metrics.group_unassigned._value.get() == bound
    worker._mind_group()
    live, details = worker.health.live()
    assert not live and details["group_stalled"] is True
    assert worker.metrics.group_stalled._value.get() == 1

    worker.rebalance.on_assign(second, [TopicPartition("in", 1)])
    worker._mind_group()
    assert worker.health.live()[0]
    assert worker.metrics.group_stalled._value.get() == 0


def test_without_group_leave_on_stop_the_worker_commits_and_keeps_the_consumer_open() -> None:
    batch = [record(i, text("m")) for i in range(3)]
    worker, consumer, _ = make_worker([batch], connect=False)
    worker.settings = worker.settings.model_copy(update={"group_leave_on_stop": False})
    stop_after_first_batch(worker)
    worker.run()
    assert not consumer.closed  # closing would send LeaveGroup
    assert ("in", 0, 3) in [c for commit in consumer.commits for c in commit]
