"""Reading the source files as they were published: CSV, TSV, JSON, NLTK zips, tar.gz archives.

Every file is read byte for byte as published; a missing data root or file raises
`DataNotFoundError` naming what to put where.
"""

from __future__ import annotations

import csv
import json
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from consumer.training.datasets.examples import DataNotFoundError

__all__ = [
    "column",
    "csv_dicts",
    "decode",
    "json_strings",
    "jsonl_records",
    "read_json",
    "read_text",
    "require",
    "tar_members",
    "tsv_rows",
    "zip_texts",
]

# The csv module refuses a field longer than 128 KiB by default; a few published prompts
# are longer (the longest role-play prompt is about 140,000 characters).
_MAX_CSV_FIELD_CHARS = 1 << 24


def require(root: Path, rel: str) -> Path:
    """`root / rel`, which must exist (and so must the root)."""
    if not root.is_dir():
        raise DataNotFoundError(root, "data root")
    path = root / rel
    if not path.is_file():
        raise DataNotFoundError(path)
    return path


def read_text(root: Path, rel: str) -> str:
    return require(root, rel).read_text(encoding="utf-8")


def read_json(root: Path, rel: str) -> Any:
    return json.loads(read_text(root, rel))


def jsonl_records(root: Path, rel: str) -> list[Any]:
    """The JSON value of every non-blank line of a JSON-lines file, in order."""
    return [json.loads(line) for line in read_text(root, rel).splitlines() if line.strip()]


def csv_dicts(root: Path, rel: str) -> list[dict[str, str]]:
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_CSV_FIELD_CHARS))
    with require(root, rel).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def tsv_rows(root: Path, rel: str) -> list[list[str]]:
    with require(root, rel).open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def column(rows: list[dict[str, str]], name: str, rel: str) -> list[str]:
    """One column of CSV rows; a file without it is an error that names the file."""
    if rows and name not in rows[0]:
        raise ValueError(f"{rel}: expected a column {name!r}, found {sorted(rows[0])}")
    return [row[name] or "" for row in rows]


def json_strings(node: Any) -> Iterator[str]:
    """Every string in a JSON tree (category -> subcategory -> list, or a list), in order."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from json_strings(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from json_strings(item)


_ASCII_OR_BIG5_PUNCT = re.compile(rb"(?:[\x00-\x7f]|\xa1[\x40-\x7e\xa1-\xfe])*")


def decode(data: bytes) -> str:
    """UTF-8, else Big5 punctuation in ASCII text (some Nixon addresses), else Windows-1252."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _ASCII_OR_BIG5_PUNCT.fullmatch(data):
        return data.decode("big5").replace("\u3000", " ")
    return data.decode("cp1252", errors="replace")


def zip_texts(root: Path, rel: str, accept: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
    """(member name, decoded text) for the accepted files of an NLTK zip, sorted by name."""
    path = require(root, rel)
    with zipfile.ZipFile(path) as archive:
        names = sorted(
            name
            for name in archive.namelist()
            if not name.endswith("/") and not name.rsplit("/", 1)[-1].startswith("README")
        )
        for name in names:
            if accept(name):
                yield name, decode(archive.read(name))


def tar_members(root: Path, rel: str) -> dict[str, bytes]:
    """Member name -> bytes of every regular file of a tar.gz archive, read in memory.

    Nothing is extracted to disk: a member's name never becomes a path on this machine.
    """
    path = require(root, rel)
    out: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if member.isfile():
                handle = archive.extractfile(member)
                if handle is not None:
                    out[member.name] = handle.read()
    return out
