"""Text clean-up shared by the loaders: undoing word tokenisation and cutting long prose.

Text is kept raw apart from stripping whitespace, undoing the word tokenisation of the NLTK
corpora (``word , word .``) and cutting long benign prose into chunks of at most about 1000
characters on sentence boundaries; the normalisation shared with serving lives in
:mod:`consumer.model.textprep`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from consumer.training.datasets.examples import Example, example

__all__ = ["MAX_CHUNK_CHARS", "chunk", "detokenize", "lines", "pack", "prose", "sentences"]

MAX_CHUNK_CHARS: Final = 1000

_TOKEN_SPACE_BEFORE = re.compile(r"\s+(?=[.,!?;:%)\]}]|n't\b|'(?:s|re|ve|ll|d|m)\b)", re.I)
_TOKEN_SPACE_AFTER = re.compile(r"(?<=[(\[{])\s+")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+")


def detokenize(text: str) -> str:
    """Undo Penn-Treebank-style spacing: ``it 's good , i think .`` -> ``it's good, i think.``"""
    text = _SPACES.sub(" ", text).strip()
    text = _TOKEN_SPACE_BEFORE.sub("", text)
    return _TOKEN_SPACE_AFTER.sub("", text)


def lines(text: str) -> list[str]:
    """The non-blank lines of a text."""
    return [line for line in text.splitlines() if line.strip()]


def sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


def pack(pieces: Iterable[str], max_chars: int) -> list[str]:
    """Join consecutive pieces with spaces into chunks of at most ``max_chars``.

    A piece longer than ``max_chars`` on its own is cut on whitespace (or hard, if a single
    word is that long).
    """
    chunks: list[str] = []
    current = ""
    for raw in pieces:
        piece = raw.strip()
        if not piece:
            continue
        for part in _hard_split(piece, max_chars):
            if not current:
                current = part
            elif len(current) + 1 + len(part) <= max_chars:
                current = f"{current} {part}"
            else:
                chunks.append(current)
                current = part
    if current:
        chunks.append(current)
    return chunks


def _hard_split(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    parts: list[str] = []
    while len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars + 1)
        if cut <= 0:
            cut = max_chars
        parts.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        parts.append(text)
    return parts


def chunk(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """A stripped text, or its sentences packed into chunks of at most ``max_chars``."""
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    return pack(sentences(text), max_chars)


def prose(texts: Iterable[str], source: str, max_chars: int = MAX_CHUNK_CHARS) -> list[Example]:
    """Benign prose, long documents cut into chunks of at most ``max_chars``."""
    out: list[Example] = []
    for raw in texts:
        for piece in chunk(raw, max_chars):
            out.append(example(piece, "benign_prose", source))
    return out
