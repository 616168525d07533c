"""Fine-tuning the transformer family: length-sorted batches, the split, a tiny encoder that
learns, the time bound, and the export the worker serves."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from consumer.model.transformer import TransformerTextModel
from consumer.training.datasets import Example
from consumer.training.recipes import validation_indices
from consumer.training.transformer import (
    EncoderClassifier,
    TransformerRecipe,
    _batches,
    _split,
    _tokenizer,
    export_onnx,
    fine_tune,
)
from tests.conftest import labelled_texts
from tests.tiny_encoder import tiny_encoder_model, write_tokenizer


def test_batches_cover_every_row_once_and_hold_similar_lengths() -> None:
    rng = random.Random(1)
    lengths = [rng.randrange(3, 200) for _ in range(1000)]
    batches = _batches(lengths, batch_size=16, chunk=10, rng=random.Random(2))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    unsorted = np.mean(
        [max(lengths[i : i + 16]) - min(lengths[i : i + 16]) for i in range(0, 1000, 16)]
    )
    assert spread < unsorted / 4  # padding mostly gone


def example(i: int, label: str) -> Example:
    category = "harmful_request" if label == "malicious" else "benign_prompt"
    return Example(f"text {i}", label, f"source{i % 5}", category)


def test_validation_rows_are_never_training_rows() -> None:
    rows = [example(i, "malicious" if i % 3 else "benign") for i in range(2000)]
    train, validation = _split(rows, TransformerRecipe(rows=900, validation_rows=300), seed=4)
    assert len(train) == 900 and len(validation) == 300
    assert not {e.text for e in train} & {e.text for e in validation}
    # The cascade recipe finds the same validation rows again.
    again = [rows[i] for i in validation_indices(len(rows), 300, seed=4)]
    assert again == validation


def tiny_model(seed: int = 0) -> EncoderClassifier:
    return tiny_encoder_model(seed, layers=1)


def test_a_tiny_encoder_learns_the_labels(tmp_path: Path) -> None:
    tokenizer = _tokenizer(write_tokenizer(tmp_path / "tokenizer.json"), 32)
    rows = labelled_texts(256, seed=3)
    ids = [e.ids for e in tokenizer.encode_batch([t for t, _ in rows])]
    y = np.array([label == "malicious" for _, label in rows], dtype=np.int8)
    model = tiny_model()
    recipe = TransformerRecipe(epochs=4, batch_size=16, learning_rate=2e-3, warmup=0.1)
    run = fine_tune(model, ids, y, recipe, seed=1)
    assert run["rows_seen"] == 4 * 256
    with torch.no_grad():
        input_ids = torch.zeros((len(ids), max(map(len, ids))), dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for i, r in enumerate(ids):
            input_ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        logits = model(input_ids, mask)
    accuracy = float(((logits[:, 1] > logits[:, 0]).numpy() == y.astype(bool)).mean())
    assert accuracy > 0.9
    assert run["final_loss"] < 0.3


def test_the_time_bound_stops_fine_tuning_and_is_recorded(tmp_path: Path) -> None:
    tokenizer = _tokenizer(write_tokenizer(tmp_path / "tokenizer.json"), 32)
    rows = labelled_texts(512, seed=3)
    ids = [e.ids for e in tokenizer.encode_batch([t for t, _ in rows])]
    y = np.array([label == "malicious" for _, label in rows], dtype=np.int8)
    run = fine_tune(tiny_model(), ids, y, TransformerRecipe(batch_size=8), seed=1, max_seconds=0.0)
    assert run["steps"] == 1 and run["steps_planned"] == 64
    assert run["rows_seen"] == 8


def test_the_exported_onnx_model_scores_as_the_torch_model_does(tmp_path: Path) -> None:
    tokenizer_path = write_tokenizer(tmp_path / "tokenizer.json")
    model = tiny_model(seed=5).eval()
    export_onnx(model, tmp_path / "model.onnx", quantize=False)
    served = TransformerTextModel(
        (tmp_path / "model.onnx").read_bytes(),
        tokenizer_path.read_text(),
        classes=["benign", "malicious"],
        max_length=32,
        calibration=None,
    )
    texts = [t for t, _ in labelled_texts(30, seed=8)]
    tokenizer = _tokenizer(tokenizer_path, 32)
    expected = []
    with torch.no_grad():
        for encoding in tokenizer.encode_batch(texts):
            ids = torch.tensor([encoding.ids])
            logits = model(ids, torch.ones_like(ids))[0]
            expected.append(float(logits[1] - logits[0]))
    assert served.margins(texts) == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="binary"):
        TransformerTextModel(b"", "{}", classes=["a", "b", "c"], max_length=8, calibration=None)
