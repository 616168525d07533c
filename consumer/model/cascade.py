"""A cascade: the fast model decides where it is confident, the transformer reads the rest.

Within one micro-batch the fast stage scores every text; texts whose fast probability falls
in the uncertain band `[low, high)` go to the transformer in one call, and their probability
becomes a stacked one: a logistic map of the fast stage's logit and the transformer's
margin, fitted on validation rows of that band (the two families err on different texts,
so both signals together beat either alone). Texts outside the band keep the fast stage's
probability. The band is chosen on validation data for a stated share routed, so the
cascade's cost is the fast model's plus that share of the transformer's.

A fast stage that names kinds of harm (`categories_`) makes the cascade name them: a text
the transformer read takes the transformer's shares of the kinds when it names the same
ones, the fast stage's otherwise, and the shares split the text's final probability.

`stage_counts` holds how many texts each stage decided since it was last read; the stream
turns it into a metric. The model package knows nothing of metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from consumer.model.transformer import kind_shares, margin_of

__all__ = ["Cascade", "CascadeParams", "logit"]

_EPS = 1e-6


def _shares(kinds: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Each kind's share of the malicious probability from the fast stage's columns."""
    return kinds / np.maximum(total, _EPS)[:, None]


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept `_EPS` away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class _Stage(Protocol):
    classes_: Any

    def predict_proba(self, texts: Sequence[str]) -> Any: ...


class _Transformer(_Stage, Protocol):
    def margins(self, texts: Sequence[str]) -> np.ndarray: ...

    def logits(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class CascadeParams:
    """The uncertain band on the fast stage's probability, and the stacking map."""

    low: float
    high: float
    # P(malicious) = sigmoid(fast_weight * logit(p_fast) + margin_weight * margin + bias)
    fast_weight: float
    margin_weight: float
    bias: float
    routed_share: float | None = None  # the share of validation rows the band routes

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> CascadeParams:
        params = cls(
            low=float(data["low"]),
            high=float(data["high"]),
            fast_weight=float(data["fast_weight"]),
            margin_weight=float(data["margin_weight"]),
            bias=float(data["bias"]),
            routed_share=None if data.get("routed_share") is None else float(data["routed_share"]),
        )
        if not 0.0 <= params.low <= params.high <= 1.0:
            raise ValueError(f"band [{params.low}, {params.high}) is not inside [0, 1]")
        return params

    def to_manifest(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "fast_weight": self.fast_weight,
            "margin_weight": self.margin_weight,
            "bias": self.bias,
            "routed_share": self.routed_share,
        }

    def routed(self, p_fast: np.ndarray) -> np.ndarray:
        return (p_fast >= self.low) & (p_fast < self.high)

    def stacked(self, p_fast: np.ndarray, margin: np.ndarray) -> np.ndarray:
        z = self.fast_weight * logit(p_fast) + self.margin_weight * margin + self.bias
        return 1.0 / (1.0 + np.exp(-z))


class Cascade:
    """`classes_` and `predict_proba` over a fast stage and a transformer stage."""

    def __init__(self, fast: _Stage, transformer: _Stage, params: CascadeParams) -> None:
        fast_classes = [str(c) for c in fast.classes_]
        if fast_classes != [str(c) for c in transformer.classes_] or len(fast_classes) != 2:
            raise ValueError(
                f"the stages' labels differ or are not binary: {fast_classes} vs "
                f"{[str(c) for c in transformer.classes_]}"
            )
        if not hasattr(transformer, "margins"):
            raise ValueError("the transformer stage gives no margins")
        self.fast = fast
        self.transformer: _Transformer = transformer  # type: ignore[assignment]
        self.params = params
        self.classes_ = fast.classes_
        kinds = [str(c) for c in getattr(fast, "categories_", ())]
        self.categories_ = np.asarray(kinds, dtype=object)
        #: The transformer names the same kinds: routed texts take its shares of them.
        self._transformer_kinds = bool(kinds) and kinds == [
            str(c) for c in getattr(transformer, "categories_", ())
        ]
        self._counts = {"fast": 0, "transformer": 0}
        self._lock = threading.Lock()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        proba = np.asarray(self.fast.predict_proba(texts), dtype=np.float64)
        p = proba[:, 1].copy()
        share = _shares(proba[:, 2:], proba[:, 1]) if len(self.categories_) else None
        routed = np.flatnonzero(self.params.routed(p))
        if routed.size:
            chosen = [texts[i] for i in routed.tolist()]
            if self._transformer_kinds and share is not None:
                logits = self.transformer.logits(chosen)
                margin = margin_of(logits)
                share[routed] = kind_shares(logits)
            else:
                margin = self.transformer.margins(chosen)
            p[routed] = self.params.stacked(p[routed], margin)
        with self._lock:
            self._counts["transformer"] += int(routed.size)
            self._counts["fast"] += len(texts) - int(routed.size)
        if share is None:
            return np.column_stack([1.0 - p, p])
        return np.column_stack([1.0 - p, p, p[:, None] * share])

    def stage_counts(self) -> dict[str, int]:
        """Texts decided by each stage since the last call (and reset the counts)."""
        with self._lock:
            counts, self._counts = self._counts, {"fast": 0, "transformer": 0}
        return counts
