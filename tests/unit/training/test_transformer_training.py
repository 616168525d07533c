"""Fine-tuning the transformer family: length-sorted batches, the split, a tiny encoder that
learns, the time bound, and the export the worker serves."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from consumer.model.transformer import TransformerTextModel
from consumer.training.datasets import Example
from consumer.training.onnx_export import export_onnx
from consumer.training.recipes import validation_indices
from consumer.training.transformer import (
    EncoderClassifier,
    TransformerRecipe,
    _batches,
    _first_layers,
    _split,
    _token_ids,
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


RECIPE = TransformerRecipe(max_length=32, tail_tokens=8)


def test_the_encoder_keeps_its_first_layers() -> None:
    encoder: Any = tiny_encoder_model(0).encoder
    first = encoder.encoder.layer[0]
    cut = _first_layers(encoder, 1)
    assert len(cut.encoder.layer) == 1 and cut.encoder.layer[0] is first
    assert cut.config.num_hidden_layers == 1
    with pytest.raises(ValueError, match="layers must be between 1 and 1"):
        _first_layers(cut, 2)


def tiny_model(seed: int = 0) -> EncoderClassifier:
    return tiny_encoder_model(seed, layers=1)


def test_a_tiny_encoder_learns_the_labels(tmp_path: Path) -> None:
    rows = labelled_texts(256, seed=3)
    ids = _token_ids(write_tokenizer(tmp_path / "tokenizer.json"), [t for t, _ in rows], RECIPE)
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
    rows = labelled_texts(512, seed=3)
    ids = _token_ids(write_tokenizer(tmp_path / "tokenizer.json"), [t for t, _ in rows], RECIPE)
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
        max_length=RECIPE.max_length,
        calibration=None,
        tail_tokens=RECIPE.tail_tokens,
    )
    texts = [t for t, _ in labelled_texts(30, seed=8)] + ["alpha beta " * 40 + "the end"]
    expected = []
    with torch.no_grad():
        for row in _token_ids(tokenizer_path, texts, RECIPE):
            ids = torch.tensor([row])
            logits = model(ids, torch.ones_like(ids))[0]
            expected.append(float(logits[1] - logits[0]))
    assert served.margins(texts) == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="binary"):
        TransformerTextModel(b"", "{}", classes=["a", "b", "c"], max_length=8, calibration=None)
