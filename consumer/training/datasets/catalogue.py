"""The training sources (`sources.toml`) bound to their loaders, and reading them all.

The catalogue is data (`entries`: which files each source reads, its category, licence and
the name of its loader); here each entry gets its loader function. `load_all` reads the
chosen sources in catalogue order and deduplicates; `file_digests` names every file a model
was trained on with its sha256.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from consumer.model.artifact import sha256_of
from consumer.training.datasets.benign import load_sms_spam
from consumer.training.datasets.entries import CATALOGUE_FILE, entries
from consumer.training.datasets.examples import (
    BENIGN,
    DATA_ENV_VAR,
    MALICIOUS,
    DataNotFoundError,
    Example,
)
from consumer.training.datasets.files import require

__all__ = [
    "Loader",
    "SourceSpec",
    "default_data_root",
    "file_digests",
    "load_all",
    "sources",
]

# The modules whose `load_*` functions the catalogue's `loader` names.
_LOADER_MODULES: Final = (
    "consumer.training.datasets.malicious",
    "consumer.training.datasets.benign",
    "consumer.training.datasets.prompts",
    "consumer.training.datasets.requests",
    "consumer.training.datasets.abuse",
    "consumer.training.datasets.composed",
)

Loader = Callable[[Path], list[Example]]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A training source: its files (relative to the data root), main category and licence.

    ``category`` is the category of the source's malicious rows, or of all its rows when it
    has only benign ones; a few sources mix in rows of a benign category (Davidson's
    "neither" tweets, the benign half of the jailbreak set, ...).
    """

    name: str
    files: tuple[str, ...]
    category: str
    licence: str
    loader: Loader


def _loader(name: str) -> Loader:
    for module_name in _LOADER_MODULES:
        function = getattr(importlib.import_module(module_name), name, None)
        if callable(function):
            return function
    raise ValueError(f"{CATALOGUE_FILE}: no loader named {name!r}")


@cache
def sources() -> dict[str, SourceSpec]:
    """Every source of the catalogue, by name, in catalogue order (the reading order)."""
    return {
        name: SourceSpec(name, paths, category, licence, _loader(loader))
        for name, (paths, category, licence, loader) in entries().items()
    }


def _select(names: Iterable[str] | None) -> list[SourceSpec]:
    """The named sources in catalogue order (so the result does not depend on the caller's)."""
    catalogue = sources()
    if names is None:
        return list(catalogue.values())
    wanted = set(names) if not isinstance(names, str) else {names}
    unknown = sorted(wanted - catalogue.keys())
    if unknown:
        raise ValueError(f"unknown sources {unknown}; known: {sorted(catalogue)}")
    return [spec for name, spec in catalogue.items() if name in wanted]


def _dedupe(examples: Iterable[Example]) -> list[Example]:
    """First example of each exact text, except that a malicious one replaces a benign one."""
    out: list[Example] = []
    index: dict[str, int] = {}
    for example in examples:
        at = index.get(example.text)
        if at is None:
            index[example.text] = len(out)
            out.append(example)
        elif out[at].label == BENIGN and example.label == MALICIOUS:
            out[at] = example
    return out


def load_all(
    root: Path, sources: Iterable[str] | None = None, *, include_spam: bool = False
) -> list[Example]:
    """Examples of the chosen sources (default: all), deduplicated by exact text.

    Spam rows are left out unless ``include_spam`` (SMS ham is always in). When one text
    carries both labels the malicious example wins; otherwise the first one is kept. The
    order is the catalogue order of the sources, then file order: the same data gives the
    same list.
    """
    loaded: list[Example] = []
    for spec in _select(sources):
        if spec.name == "sms_spam":
            loaded.extend(load_sms_spam(root, include_spam=include_spam))
        else:
            loaded.extend(spec.loader(root))
    return _dedupe(loaded)


def file_digests(root: Path, sources: Iterable[str]) -> dict[str, str]:
    """Relative path -> sha256 hex digest of every file the chosen sources read, sorted."""
    paths = sorted({rel for spec in _select(sources) for rel in spec.files})
    return {rel: sha256_of(require(root, rel)) for rel in paths}


def default_data_root() -> Path:
    """``$CONTENT_CLASSIFIER_DATA``, else the first existing ``../shared/data`` (cwd, package)."""
    configured = os.environ.get(DATA_ENV_VAR, "").strip()
    if configured:
        return Path(configured).expanduser()
    # this file is <project>/consumer/training/datasets/catalogue.py
    candidates = (
        Path.cwd() / ".." / "shared" / "data",
        Path(__file__).resolve().parents[4] / "shared" / "data",
    )
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    raise DataNotFoundError(candidates[0], "data root")
