"""Send a file of content to a topic: the load generator of the demo and of operators."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer
from tqdm import tqdm

from consumer.config.settings import Settings
from consumer.stream.clients import producer_properties

__all__ = ["ProduceError", "produce_file", "produce_records", "read_content_file"]

_MESSAGE_FIELDS = ("text", "id", "source", "metadata", "created_at")


class ProduceError(RuntimeError):
    """Records could not be read or delivered."""


def read_content_file(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file (objects) or a CSV/TSV file with a header (a `text` column)."""
    if not path.is_file():
        raise ProduceError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        with path.open("rb") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        row = orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        raise ProduceError(f"{path}:{number}: not JSON: {exc}") from None
                    if not isinstance(row, dict):
                        raise ProduceError(f"{path}:{number}: not a JSON object")
                    yield row
    elif suffix in {".csv", ".tsv"}:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
            if not reader.fieldnames or "text" not in reader.fieldnames:
                raise ProduceError(f"{path}: the header has no 'text' column")
            yield from reader
    else:
        raise ProduceError(f"{path}: expected .jsonl or .csv")


def _to_record(row: dict[str, Any]) -> tuple[bytes | None, bytes]:
    message = {name: row[name] for name in _MESSAGE_FIELDS if row.get(name) not in (None, "")}
    key = row.get("key") or row.get("id")
    return (str(key).encode() if key else None), orjson.dumps(message)


def produce_records(
    producer: Producer,
    topic: str,
    records: Iterator[tuple[bytes | None, bytes | None]],
    *,
    total: int | None = None,
    progress: bool = True,
) -> int:
    """Produce (key, value) pairs, wait for every acknowledgement; raise if any failed."""
    failures: list[str] = []
    delivered = 0

    def on_delivery(error: Any, _message: Any) -> None:
        nonlocal delivered
        if error is not None:
            failures.append(error.str())
        else:
            delivered += 1

    bar = tqdm(total=total, unit="msg", disable=not progress, desc=f"producing to {topic}")
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        bar.update(1)
    remaining = producer.flush(60)
    bar.close()
    if remaining or failures:
        raise ProduceError(
            f"{remaining} records unacknowledged, {len(failures)} failed"
            + (f": {failures[0]}" if failures else "")
        )
    return delivered


def produce_file(
    path: Path, settings: Settings, topic: str, *, limit: int | None = None, progress: bool = True
) -> int:
    rows = list(read_content_file(path))[:limit]
    producer = Producer(
        {
            "linger.ms": 20,
            **producer_properties(settings),
            "enable.idempotence": True,
            "acks": "all",
        }
    )
    return produce_records(
        producer, topic, (_to_record(row) for row in rows), total=len(rows), progress=progress
    )
