"""Records that must be dead-lettered, by kind (values as raw bytes; None is a tombstone)."""

from __future__ import annotations

import orjson

MALFORMED: dict[str, bytes | None] = {
    "tombstone": None,
    "empty value": b"",
    "whitespace value": b"   ",
    "not json": b"hello there",
    "truncated json": b'{"text": "half a mess',
    "invalid utf-8": b'{"text": "\xff\xfe"}',
    "lone surrogate": b'{"text": "\xed\xa0\x80"}',
    "json array": b'["text", "hi"]',
    "json string": b'"just text"',
    "json number": b"42",
    "json null": b"null",
    "missing text": b'{"id": "no-text"}',
    "null text": b'{"text": null}',
    "empty text": b'{"text": ""}',
    "blank text": b'{"text": " \\n\\t "}',
    "text is a number": b'{"text": 12345}',
    "text is an object": b'{"text": {"nested": "x"}}',
    "id is a number": b'{"text": "fine", "id": 7}',
    "id too long": orjson.dumps({"text": "fine", "id": "i" * 257}),
    "metadata not strings": b'{"text": "fine", "metadata": {"a": 1}}',
    "text too long": orjson.dumps({"text": "long " * 2500}),
}
