"""Isolation of a failing record: one poison record never blocks the others of its batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from consumer.model.classifier import Prediction

__all__ = ["Classified", "HasText", "classify_isolating"]


class HasText(Protocol):
    @property
    def text(self) -> str: ...


Item = TypeVar("Item", bound=HasText)
Classified = tuple[list[tuple[Item, Prediction]], list[tuple[Item, BaseException]]]


def classify_isolating(
    classify: Callable[[Sequence[str]], list[Prediction]], items: Sequence[Item]
) -> Classified[Item]:
    """One vectorised call for the batch; if the model raises, split the batch in halves
    until each failing record is isolated, so one poison record never blocks the others."""
    if not items:
        return [], []
    try:
        predictions = classify([item.text for item in items])
    except Exception as exc:
        if len(items) == 1:
            return [], [(items[0], exc)]
        middle = len(items) // 2
        ok_left, bad_left = classify_isolating(classify, items[:middle])
        ok_right, bad_right = classify_isolating(classify, items[middle:])
        return ok_left + ok_right, bad_left + bad_right
    return list(zip(items, predictions, strict=True)), []
