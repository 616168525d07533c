from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram

from consumer.serving.metrics import observe_many

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def test_observe_many_matches_one_observe_per_value() -> None:
    values = [random.Random(4).uniform(0, 3) for _ in range(500)] + [0.0, 0.005, 0.01, 2.5, 9]
    one, many = CollectorRegistry(), CollectorRegistry()
    each = Histogram("latency_seconds", "x", buckets=BUCKETS, registry=one)
    bulk = Histogram("latency_seconds", "x", buckets=BUCKETS, registry=many)
    for value in values:
        each.observe(value)
    observe_many(bulk, values[:200])
    observe_many(bulk, values[200:])
    observe_many(bulk, [])
    assert samples(many) == pytest.approx(samples(one))


def samples(registry: CollectorRegistry) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }
