"""The accounting every reliability scenario ends with: each input got a verdict or a dead
letter, and the figures (duplicates counted, not forbidden) printed as a `RELIABILITY {...}` line
that `make reliability` collects. Not a test module."""

from __future__ import annotations

from collections import Counter

import orjson

from consumer.contracts.messages import Verdict
from tests.conftest import Topics
from tests.kafka_helpers import Output, Sent

__all__ = ["account", "outcomes"]


def outcomes(t: Topics, verdicts: list[Output], dead: list[Output]) -> Counter[tuple[int, int]]:
    """How many outputs each input (partition, offset) got."""
    seen: Counter[tuple[int, int]] = Counter()
    for out in verdicts:
        v = Verdict.model_validate_json(out.value or b"")
        assert v.source is not None and v.source.topic == t.input
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
