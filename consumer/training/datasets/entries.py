"""The entries of the source catalogue (`sources.toml`): each source's files, category,
licence and the name of its loader, as data.

This is what the loaders look up (which files a source reads) and what the catalogue binds
to them; it imports no loader, so both can depend on it. The file is read on first use
(never at import time) through `importlib.resources`, so it works from a wheel as from a
checkout.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Final, NamedTuple

from consumer.training.datasets.examples import CATEGORIES

__all__ = ["CATALOGUE_FILE", "SourceEntry", "entries", "source_file", "source_files"]

CATALOGUE_FILE: Final = "sources.toml"


class SourceEntry(NamedTuple):
    """One source of the catalogue as written: its loader by name, not yet bound."""

    files: tuple[str, ...]
    category: str
    licence: str
    loader: str


@cache
def entries() -> dict[str, SourceEntry]:
    """Source name -> its entry, in catalogue order."""
    text = files("consumer.training.datasets").joinpath(CATALOGUE_FILE).read_text("utf-8")
    out: dict[str, SourceEntry] = {}
    for name, entry in tomllib.loads(text).items():
        paths = entry.get("files")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise ValueError(f"{CATALOGUE_FILE}: [{name}] needs a non-empty list of files")
        if entry.get("category") not in CATEGORIES:
            raise ValueError(f"{CATALOGUE_FILE}: [{name}] has an unknown category")
        out[name] = SourceEntry(
            tuple(paths), entry["category"], str(entry["licence"]), str(entry["loader"])
        )
    return out


def source_files(name: str) -> tuple[str, ...]:
    """The files (relative to the data root) that source `name` reads, in reading order."""
    return entries()[name].files


def source_file(name: str) -> str:
    """The one file of a single-file source."""
    (path,) = source_files(name)
    return path
