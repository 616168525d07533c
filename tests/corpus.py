"""Records that must be dead-lettered, by kind (values as raw bytes; None is a tombstone).

Each kind must yield exactly one dead letter, and the worker must keep going.
"""

from __future__ import annotations

import orjson

#: Over the default MAX_TEXT_CHARS (10,000).
_LONG = "long " * 2500


def _nested(depth: int) -> bytes:
    return b'{"text": ' + b"[" * depth + b"]" * depth + b"}"


MALFORMED: dict[str, bytes | None] = {
    "tombstone": None,
    "empty value": b"",
    "whitespace value": b"   \n ",
    "not json": b"hello there",
    "truncated json": b'{"text": "half a mess',
    "trailing garbage": b'{"text": "ok"} trailing',
    "two objects": b'{"text": "a"}{"text": "b"}',
    "single quotes": b"{'text': 'python repr'}",
    "invalid utf-8": b'{"text": "\xff\xfe"}',
    "overlong utf-8": b'{"text": "\xc0\xaf"}',
    "lone surrogate bytes": b'{"text": "\xed\xa0\x80"}',
    "utf-16 value": '{"text": "wide"}'.encode("utf-16"),
    "byte-order mark": b'\xef\xbb\xbf{"text": "bom"}',
    "nul bytes": b'{"text": "a\x00b"}',
    "raw control character": b'{"text": "tab\x01here"}',
    "deeply nested array": _nested(100_000),
    "deeply nested objects": b'{"text": "x", "metadata": '
    + b'{"a":' * 5000
    + b"1"
    + b"}" * 5000
    + b"}",
    "json array": b'["text", "hi"]',
    "json string": b'"just text"',
    "json number": b"42",
    "json true": b"true",
    "json null": b"null",
    "missing text": b'{"id": "no-text"}',
    "null text": b'{"text": null}',
    "empty text": b'{"text": ""}',
    "blank text": b'{"text": " \\n\\t "}',
    "unicode-spaces-only text": '{"text": "\u3000\u2003"}'.encode(),
    "text is a number": b'{"text": 12345}',
    "text is a boolean": b'{"text": true}',
    "text is an object": b'{"text": {"nested": "x"}}',
    "text is a list": b'{"text": ["a", "b"]}',
    "id is a number": b'{"text": "fine", "id": 7}',
    "id is empty": b'{"text": "fine", "id": ""}',
    "id too long": orjson.dumps({"text": "fine", "id": "i" * 257}),
    "metadata not an object": b'{"text": "fine", "metadata": "x"}',
    "metadata not strings": b'{"text": "fine", "metadata": {"a": 1}}',
    "source is a number": b'{"text": "fine", "source": 3}',
    "created_at not a date": b'{"text": "fine", "created_at": "yesterday"}',
    "escaped lone surrogate": b'{"text": "\\ud800"}',
    "huge number": b'{"text": "fine", "id": 1e999999}',
    "text too long": orjson.dumps({"text": _LONG}),
    "text too long in escapes": b'{"text": "' + b"\\u0041" * 10_001 + b'"}',
}

#: Inputs that look odd but are valid messages: each must get a verdict, not a dead letter.
ODD_BUT_VALID: dict[str, bytes] = {
    "unicode text": orjson.dumps({"text": "ça va? 你好 🙂 مرحبا"}),
    "numbers as text": b'{"text": "12345"}',
    "unknown fields": b'{"text": "fine", "future": {"x": [1, 2]}}',
    "escaped control characters": b'{"text": "line\\nbreak\\ttab\\u0001"}',
    "text at the limit": orjson.dumps({"text": "y" * 10_000}),
    "id at the limit": orjson.dumps({"text": "fine", "id": "i" * 256}),
    "whitespace around json": b'  \n {"text": "padded"} \n',
    "null optional fields": b'{"text": "fine", "id": null, "source": null, "metadata": null}',
}
