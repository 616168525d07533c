"""Exporting a fine-tuned encoder for serving without torch: ONNX, calibration, the folder.

* Export to ONNX (opset 17, dynamic batch and sequence axes), then, if the recipe asks,
  int8 dynamic quantisation of the weights.
* The margin of the *exported* model on the validation rows is calibrated (isotonic) and the
  policy chosen there, so the probabilities and thresholds are those of what is served.
* The folder holds model.onnx, tokenizer.json, manifest.json (with the sha256 of each) and
  MODEL_CARD.md, as `consumer.model.transformer` loads it.

Kept apart from the fine-tuning (`consumer.training.transformer`) so that a model folder can
be written from any encoder with the binary head, trained or not (the tests export a random
one); it reads the fine-tuning recipe only through `ExportSettings`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from consumer.model.artifact import (
    ONNX_FILE,
    TOKENIZER_FILE,
    SigningKey,
    sha256_of,
    write_manifest,
)
from consumer.model.transformer import TransformerTextModel, runtime_versions
from consumer.quality.drift import ScoreBaseline
from consumer.training.cards import transformer_model_card
from consumer.training.datasets import BENIGN, MALICIOUS, Example
from consumer.training.policy import binary_metrics, choose_policy, cross_fitted, isotonic_map
from consumer.training.recipes import DEFAULT_RECIPE

__all__ = ["ExportSettings", "export_onnx", "write_transformer_folder"]


class ExportSettings(Protocol):
    """What the export reads of the fine-tuning recipe (`TransformerRecipe`).

    A protocol rather than the recipe itself: the fine-tuning module imports this one.
    """

    @property
    def max_length(self) -> int: ...  # tokens serving reads of a text

    @property
    def tail_tokens(self) -> int: ...  # of max_length, from the end of a longer text

    @property
    def quantize(self) -> bool: ...  # int8 dynamic quantisation of the weights

    def to_manifest(self) -> dict[str, Any]: ...  # the manifest's `recipe_params`


def export_onnx(model: nn.Module, path: Path, *, quantize: bool) -> None:
    """Write the model as ONNX (dynamic batch and sequence axes), int8-quantised if asked.

    `model` is called as `model(input_ids, attention_mask)` and returns the two logits
    (`EncoderClassifier`).
    """
    model.eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # The TorchScript exporter warns that it is deprecated and that the attention mask's
        # constant is traced as a constant (it is one); neither changes the graph.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            model,
            (sample, torch.ones_like(sample)),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # The quantiser's shape inference writes scratch files into the working
            # directory; run it inside the temporary one so none is left behind.
            target = path.resolve()
            with contextlib.chdir(tmp):
                quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8)
        else:
            shutil.copyfile(fp32, path)


def write_transformer_folder(
    out: Path,
    model: nn.Module,
    tokenizer_path: Path,
    validation: Sequence[Example],
    recipe: ExportSettings,
    *,
    name: str,
    version: str,
    extra: dict[str, Any],
    signing_key: SigningKey | None = None,
    categories: Sequence[str] = (),
) -> Path:
    """Export, calibrate on `validation` with the exported model, and write the folder:
    model.onnx, tokenizer.json, manifest.json (sha256 of each), MODEL_CARD.md. A model
    whose head has a logit per kind of harm lists them (`categories`)."""
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out / ONNX_FILE, quantize=recipe.quantize)
    shutil.copyfile(tokenizer_path, out / TOKENIZER_FILE)
    served = TransformerTextModel(
        out / ONNX_FILE,
        (out / TOKENIZER_FILE).read_text(encoding="utf-8"),
        classes=(BENIGN, MALICIOUS),
        max_length=recipe.max_length,
        calibration=None,
        tail_tokens=recipe.tail_tokens,
        categories=categories,
    )
    texts = [e.text for e in validation]
    y = np.fromiter((e.label == MALICIOUS for e in validation), dtype=np.int8, count=len(texts))
    started = time.monotonic()
    margin = served.margins(texts)
    seconds = time.monotonic() - started
    calibration = isotonic_map(margin, y)
    # Threshold and metrics from cross-fitted probabilities (each half calibrated by a map
    # fitted on the other half), as the scikit-learn recipe uses out-of-fold scores: an
    # isotonic map scored on its own rows would report a calibration error near zero.
    proba = cross_fitted(margin, y, isotonic_map, seed=len(texts))
    policy = choose_policy(proba, y, DEFAULT_RECIPE)
    metrics = {
        "validation": binary_metrics(proba, y, policy.threshold),
        "validation_texts_per_second": round(len(texts) / max(seconds, 1e-9), 1),
        **extra.pop("metrics", {}),
    }
    manifest = {
        "family": "transformer",
        "labels": [BENIGN, MALICIOUS],
        **({"categories": list(categories)} if categories else {}),
        "files": {
            ONNX_FILE: sha256_of(out / ONNX_FILE),
            TOKENIZER_FILE: sha256_of(out / TOKENIZER_FILE),
        },
        "runtime": runtime_versions(),
        "max_length": recipe.max_length,
        "tail_tokens": recipe.tail_tokens,
        "calibration": calibration.to_manifest(),
        "recipe_params": recipe.to_manifest(),
        "metrics": metrics,
        "score_baseline": ScoreBaseline.from_scores(proba).to_manifest(
            "quantile bins of cross-fitted validation scores"
        ),
        **extra,
    }
    card = transformer_model_card(name, version, manifest, policy)
    return write_manifest(
        out,
        manifest,
        name=name,
        version=version,
        policy=policy,
        model_card=card,
        signing_key=signing_key,
    )
