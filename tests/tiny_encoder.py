"""A tiny randomly initialised encoder, exported by the training code into a real transformer
model folder (ONNX, tokenizer, manifest with sha256, calibration, policy): what the tests
serve through the worker. Built offline in a few seconds; its verdicts mean nothing, its
contract is the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consumer.training.datasets import BENIGN, MALICIOUS, Example
from tests.conftest import labelled_texts

if TYPE_CHECKING:
    from consumer.training.transformer import EncoderClassifier

# Every word of the synthetic corpus is in the vocabulary, so texts become real token ids.
_WORDS = sorted(
    {word for text, _ in labelled_texts(200, seed=7) for word in text.lower().split()}
    | {"#", ",", ".", "'", "!", "?"}
)
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(str(n) for n in range(10)), *_WORDS]
MAX_LENGTH = 48
TAIL_TOKENS = 8  # the tiny models read the head and the tail of a longer text


def write_tokenizer(path: Path) -> Path:
    """A BERT-style WordPiece tokenizer over `VOCAB`, as `tokenizer.json`."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    vocab = {token: i for i, token in enumerate(dict.fromkeys(VOCAB))}
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.save(str(path))
    return path


def tiny_encoder_model(seed: int = 3, layers: int = 2, outputs: int = 2) -> EncoderClassifier:
    """A random BERT (`layers` layers, 32 wide) over `VOCAB` with a head of `outputs`
    logits (two: the binary head)."""
    import torch
    from transformers import BertConfig, BertModel

    from consumer.training.transformer import EncoderClassifier

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(dict.fromkeys(VOCAB)),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    encoder = BertModel(config, add_pooling_layer=False)
    return EncoderClassifier(encoder, config.hidden_size, outputs)


def build_tiny_transformer(
    folder: Path,
    *,
    version: str = "0.0.1",
    seed: int = 3,
    excluded: Sequence[str] = (),
    categories: Sequence[str] = (),
) -> Path:
    """Train nothing: a random 2-layer, 32-wide BERT, exported and calibrated on synthetic
    labelled texts by `write_transformer_folder` (with a logit per kind of harm when given
    `categories`)."""
    from consumer.training.onnx_export import write_transformer_folder
    from consumer.training.transformer import TransformerRecipe

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = write_tokenizer(folder.parent / f"{folder.name}-tokenizer.json")
    model = tiny_encoder_model(seed, outputs=1 + (len(categories) or 1))
    validation = [
        Example(
            text, label, "synthetic", "harmful_request" if label == MALICIOUS else "benign_prompt"
        )
        for text, label in labelled_texts(240, seed=seed)
    ]
    assert {e.label for e in validation} == {BENIGN, MALICIOUS}
    return write_transformer_folder(
        folder,
        model,
        tokenizer,
        validation,
        TransformerRecipe(
            max_length=MAX_LENGTH, tail_tokens=TAIL_TOKENS, validation_rows=len(validation)
        ),
        name="tiny-transformer",
        version=version,
        extra={"recipe": "transformer", "seed": seed, "excluded_sources": sorted(excluded)},
        categories=categories,
    )


def build_tiny_cascade(
    folder: Path, fast: Path, transformer: Path, *, seed: int, rows: int, **kwargs: Any
) -> Path:
    """`build_cascade` of two folders, its band for half of `rows` synthetic labelled texts."""
    import numpy as np

    from consumer.training.cascade import build_cascade

    texts = labelled_texts(rows, seed=seed)
    return build_cascade(
        folder,
        fast,
        transformer,
        [text for text, _ in texts],
        np.array([label == "malicious" for _, label in texts]),
        routed_share=0.5,
        **kwargs,
    )
