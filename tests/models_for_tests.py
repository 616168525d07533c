"""Deliberately faulty models, saved as real model folders for workers under test.

They live in the `tests` package so a worker started from the repository can unpickle them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from consumer.model.artifact import save_model
from consumer.model.classifier import Policy

POISON = "<<poison>>"


class PoisonModel:
    """Raises on any batch that contains the marker, as a model with a bug would."""

    def __init__(self) -> None:
        self.classes_ = np.array(["benign", "malicious"])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if any(POISON in text for text in texts):
            raise RuntimeError("the model cannot handle this input")
        return np.array([[0.1, 0.9] if "bad" in text else [0.9, 0.1] for text in texts])


class SlowModel:
    """Takes `seconds` for every call, however small the batch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.classes_ = np.array(["benign", "malicious"])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.seconds)
        return np.tile([0.8, 0.2], (len(texts), 1))


class SignallingModel(SlowModel):
    """A slow model that writes a file as it starts each call, so a test knows a batch is
    being classified (and its outputs are not produced yet)."""

    def __init__(self, seconds: float, signal_file: str) -> None:
        super().__init__(seconds)
        self.signal_file = signal_file

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        Path(self.signal_file).write_text(str(len(texts)))
        return super().predict_proba(texts)


def save(estimator: object, folder: Path, name: str) -> Path:
    return save_model(
        folder,
        estimator,  # type: ignore[arg-type]
        name=name,
        version="0.0.1-test",
        policy=Policy(positive_label="malicious"),
    )
