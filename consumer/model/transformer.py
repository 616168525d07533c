"""The transformer family at serving time: an encoder exported to ONNX, run by onnxruntime,
its text cut into tokens by the Rust `tokenizers` package. No torch.

A micro-batch is encoded in one call, then
cut into sub-batches of texts of similar length: padding is most of an encoder's cost, so
each sub-batch is padded only to its own longest text. Scores are written back in the
batch's order, so verdicts keep the order of their records.

A text longer than the model's `max_length` tokens is cut to its first tokens, or, when the
model was trained so (`tail_tokens` in its manifest), to its first `max_length - tail_tokens`
and its last `tail_tokens` tokens: a long jailbreak's request often comes after pages of
role-play preamble.

The encoder's output is a margin (malicious logit minus benign logit); a monotone map fitted
on validation rows (isotonic, stored as its knots in the manifest) turns it into a
calibrated probability, the same contract as the scikit-learn family's `predict_proba`. A
model that names kinds of harm (`categories` in its manifest) has a head of one benign logit
and one per kind: its margin is the malicious log-odds (the log-sum-exp of the kinds' logits
less the benign one), and the kinds' softmax shares out the calibrated probability, as the
scikit-learn family's categories do.

onnxruntime and tokenizers are an optional extra (`pip install
'content-classifier[transformer]'`): this module imports them only when a model is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from consumer.model.estimators import PROBA_EPS

__all__ = [
    "SUB_BATCH",
    "TRANSFORMER_EXTRA_HINT",
    "ScoreMap",
    "TransformerTextModel",
    "kind_shares",
    "load_tokenizer",
    "margin_of",
    "pad_batch",
    "runtime_versions",
    "token_ids",
]

#: Texts per encoder call: large enough to use both cores' vector units, small enough that
#: texts of one sub-batch have similar lengths once the batch is sorted.
SUB_BATCH = 32

#: With a tail kept, a text is cut to this many characters per token of `max_length` at each
#: end before it is tokenised, which bounds the tokeniser's work on a huge text and still
#: leaves more tokens at each end than the model reads.
_CHARS_PER_TOKEN = 8

TRANSFORMER_EXTRA_HINT = (
    "the transformer family needs onnxruntime and tokenizers: "
    "pip install 'content-classifier[transformer]'"
)


def _runtime() -> tuple[Any, Any]:
    try:
        import onnxruntime
        import tokenizers
    except ImportError as exc:
        raise ImportError(f"{TRANSFORMER_EXTRA_HINT} ({exc})") from exc
    return onnxruntime, tokenizers


def runtime_versions() -> dict[str, str]:
    """The versions a transformer model folder records and is checked against."""
    onnxruntime, tokenizers = _runtime()
    return {"onnxruntime": onnxruntime.__version__, "tokenizers": tokenizers.__version__}


def load_tokenizer(tokenizer_json: str, max_length: int, tail_tokens: int = 0) -> Any:
    """A `tokenizers.Tokenizer` that does not pad (batches are padded by `pad_batch`, each to
    its own longest text) and truncates at `max_length` tokens unless a tail is kept, in
    which case `token_ids` cuts."""
    _, tokenizers = _runtime()
    tokenizer = tokenizers.Tokenizer.from_str(tokenizer_json)
    if tail_tokens:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    return tokenizer


def token_ids(
    tokenizer: Any, texts: Sequence[str], max_length: int, tail_tokens: int = 0
) -> list[list[int]]:
    """Each text's token ids, at most `max_length`: the head, or the head and the last
    `tail_tokens` (which end with the template's closing token) of a longer text."""
    if not tail_tokens:
        return [e.ids for e in tokenizer.encode_batch(list(texts))]
    if not 0 < tail_tokens < max_length - 1:
        raise ValueError(f"tail_tokens must be between 1 and {max_length - 2}, got {tail_tokens}")
    span = _CHARS_PER_TOKEN * max_length
    cut = [t if len(t) <= 2 * span else f"{t[:span]} {t[-span:]}" for t in texts]
    head = max_length - tail_tokens
    rows = []
    for encoding in tokenizer.encode_batch(cut):
        ids = encoding.ids
        rows.append(ids if len(ids) <= max_length else ids[:head] + ids[-tail_tokens:])
    return rows


def pad_batch(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask (int64), padded with 0 to the longest row."""
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


@dataclass(frozen=True, slots=True)
class ScoreMap:
    """A monotone piecewise-linear map from margin to probability (an isotonic fit's knots)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> ScoreMap:
        x = tuple(float(v) for v in data["x"])
        y = tuple(float(v) for v in data["y"])
        if len(x) != len(y) or len(x) < 2:
            raise ValueError("calibration needs two or more knots, as many x as y")
        if any(b < a for a, b in pairwise(x)):
            raise ValueError("calibration knots must be sorted by x")
        return cls(x, y)

    def to_manifest(self) -> dict[str, Any]:
        return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        p = np.interp(margin, self.x, self.y)
        # Kept as far from 0 and 1 as the scikit-learn family's calibrated probabilities.
        return np.clip(p, PROBA_EPS, 1 - PROBA_EPS)


class TransformerTextModel:
    """`classes_` and `predict_proba` over an ONNX encoder with a binary head, or a head of
    benign and the kinds of harm (`categories_`)."""

    def __init__(
        self,
        onnx_model: bytes | Path,
        tokenizer_json: str,
        *,
        classes: Sequence[str],
        max_length: int,
        calibration: ScoreMap | None,
        threads: int = 0,
        sub_batch: int = SUB_BATCH,
        tail_tokens: int = 0,
        categories: Sequence[str] = (),
    ) -> None:
        onnxruntime, _ = _runtime()
        if len(classes) != 2:
            raise ValueError(f"the transformer head is binary, got labels {tuple(classes)}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self._session = onnxruntime.InferenceSession(
            str(onnx_model) if isinstance(onnx_model, Path) else onnx_model,
            options,
            providers=["CPUExecutionProvider"],
        )
        inputs = {i.name for i in self._session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs:
            raise ValueError(f"the encoder takes {sorted(inputs)}, not input_ids/attention_mask")
        self._token_types = "token_type_ids" in inputs
        self._tokenizer = load_tokenizer(tokenizer_json, max_length, tail_tokens)
        self.classes_ = np.asarray(classes)
        self.max_length = max_length
        self.tail_tokens = tail_tokens
        self.calibration = calibration
        self.sub_batch = sub_batch
        self.categories_ = np.asarray(list(categories), dtype=object)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """The encoder's logits for each text, in order: benign, then malicious or each
        kind of harm."""
        out = np.empty((len(texts), 1 + max(1, len(self.categories_))), dtype=np.float64)
        if not texts:
            return out
        ids = token_ids(self._tokenizer, texts, self.max_length, self.tail_tokens)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.sub_batch):
            chosen = order[start : start + self.sub_batch]
            input_ids, mask = pad_batch([ids[i] for i in chosen])
            feed = {"input_ids": input_ids, "attention_mask": mask}
            if self._token_types:
                feed["token_type_ids"] = np.zeros_like(input_ids)
            (logits,) = self._session.run(["logits"], feed)
            if logits.shape[1] != out.shape[1]:
                raise ValueError(
                    f"the encoder gives {logits.shape[1]} logits, the manifest "
                    f"{out.shape[1]} (benign and {list(self.categories_) or ['malicious']})"
                )
            out[chosen] = logits
        return out

    def margins(self, texts: Sequence[str]) -> np.ndarray:
        """The encoder's raw margin (the malicious log-odds) for each text, in order."""
        return margin_of(self.logits(texts))

    def probability(self, margin: np.ndarray) -> np.ndarray:
        """P(malicious) of margins: the calibration map, or the logistic without one."""
        calibration = self.calibration
        return 1.0 / (1.0 + np.exp(-margin)) if calibration is None else calibration(margin)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        logits = self.logits(texts)
        p = self.probability(margin_of(logits))
        if not len(self.categories_):
            return np.column_stack([1.0 - p, p])
        return np.column_stack([1.0 - p, p, p[:, None] * kind_shares(logits)])


def margin_of(logits: np.ndarray) -> np.ndarray:
    """The malicious log-odds of [benign, malicious...] logits: the log-sum-exp of the
    malicious columns less the benign one (with two columns, their difference)."""
    rest = logits[:, 1:]
    top = rest.max(axis=1)
    return top + np.log(np.exp(rest - top[:, None]).sum(axis=1)) - logits[:, 0]


def kind_shares(logits: np.ndarray) -> np.ndarray:
    """Each kind's share of the malicious probability: the softmax of the kinds' logits."""
    rest = logits[:, 1:]
    e = np.exp(rest - rest.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
