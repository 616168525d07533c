"""`content-classifier classify FILE`: the stream's decode, classify and verdict code over a
file, for analysts' offline batches. Each row becomes a record (topic = the file's name,
partition 0, offset = the row number), so verdicts have exactly the stream's shape and rows
the stream would dead-letter are reported with the same stage and reason."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import BinaryIO, TextIO

import orjson
from tqdm import tqdm

from consumer.model.classifier import Classifier
from consumer.model.isolation import classify_isolating
from consumer.serving.verdicts import rfc3339_now
from consumer.stream.codec import Decoded, Failure, decode, verdict

__all__ = ["FileRecord", "classify_file", "read_records"]

CHUNK = 1000


@dataclass(slots=True)
class FileRecord:
    """A row of an input file, shaped like a Kafka record for the stream's codec."""

    _topic: str
    _offset: int
    _value: bytes

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, -1)


def read_records(name: str, stream: BinaryIO, kind: str) -> Iterator[FileRecord]:
    """Rows of JSONL (one object a line), CSV/TSV (a `text` column; `id` optional) or plain
    text (one text a line)."""
    if kind in {"csv", "tsv"}:
        text_stream: TextIO = (line.decode("utf-8", "replace") for line in stream)  # type: ignore[assignment]
        reader = csv.DictReader(text_stream, delimiter="\t" if kind == "tsv" else ",")
        if not reader.fieldnames or "text" not in reader.fieldnames:
            raise ValueError(f"{name}: the CSV header has no 'text' column")
        for number, row in enumerate(reader, 1):
            fields = {k: v for k, v in row.items() if k in {"text", "id", "source"} and v}
            yield FileRecord(name, number, orjson.dumps(fields))
        return
    for number, line in enumerate(stream, 1):
        stripped = line.strip()
        if not stripped:
            continue
        if kind == "text":
            stripped = orjson.dumps({"text": line.decode("utf-8", "replace").rstrip("\r\n")})
        yield FileRecord(name, number, stripped)


def chunks(records: Iterator[FileRecord], size: int) -> Iterator[list[FileRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


def _kind_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if path == "-" or suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suffix in {".csv", ".tsv"}:
        return suffix[1:]
    return "text"


def classify_file(
    path: str,
    classifier: Classifier,
    *,
    max_text_chars: int,
    max_value_bytes: int | None = None,
    out: BinaryIO,
    errors: TextIO,
) -> tuple[int, int]:
    """Write one verdict line per classifiable row; report the others on `errors`.
    Returns (verdicts, failed rows)."""
    kind = _kind_of(path)
    name = "stdin" if path == "-" else Path(path).name
    model_ref = classifier.reference
    written = failed = 0
    # The bar shows on a terminal only (disable=None), at a rate: the row count is not known.
    with (
        nullcontext(sys.stdin.buffer) if path == "-" else Path(path).open("rb") as source,
        tqdm(unit="row", file=sys.stderr, disable=None, mininterval=1.0) as bar,
    ):
        for chunk in chunks(read_records(name, source, kind), CHUNK):
            ok, bad = _classify_chunk(
                chunk, classifier, model_ref, (max_text_chars, max_value_bytes), out, errors
            )
            written, failed = written + ok, failed + bad
            bar.update(len(chunk))
    out.flush()
    return written, failed


def _classify_chunk(
    chunk: list[FileRecord],
    classifier: Classifier,
    model_ref: dict[str, str],
    limits: tuple[int, int | None],
    out: BinaryIO,
    errors: TextIO,
) -> tuple[int, int]:
    good: list[Decoded] = []
    failures: list[Failure] = []
    for record in chunk:
        item = decode(record, *limits)
        if isinstance(item, Decoded):
            good.append(item)
        else:
            failures.append(item)
    classified, poisoned = classify_isolating(classifier.classify, good)
    now = rfc3339_now()
    for item, prediction in classified:
        out.write((verdict(item, prediction, model_ref, "", now).value or b"") + b"\n")
    for failure in failures:
        errors.write(f"row {failure.record.offset()}: {failure.stage.value}: {failure.reason}\n")
    for item, exc in poisoned:
        errors.write(f"row {item.record.offset()}: classify: {type(exc).__name__}\n")
    return len(classified), len(failures) + len(poisoned)
