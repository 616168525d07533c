"""The verdict's body as the verdict schema has it, shared by the worker (which adds the
record's position) and the HTTP API (which answers without one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from consumer.model.classifier import Prediction

__all__ = ["rfc3339_now", "verdict_body"]


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def verdict_body(
    ident: str,
    prediction: Prediction,
    model: dict[str, str],
    classified_at: str,
    input_source: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A verdict's fields in the verdict schema, but `source`: the verdict of a Kafka record
    adds the record's position, one answered over HTTP has none."""
    value = {
        "id": ident,
        "label": prediction.label,
        "score": prediction.score,
        "scores": prediction.scores,
        "action": prediction.action,
        "categories": prediction.categories,
        "category": prediction.category,
        "model": model,
        "classified_at": classified_at,
        "policy": prediction.policy,
    }
    if prediction.language is not None:
        value["language"] = prediction.language
    if input_source is not None:
        value["input_source"] = input_source
    if metadata is not None:
        value["metadata"] = metadata
    return value
