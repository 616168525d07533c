"""API keys: read from a file (a mounted Secret), compared in constant time.

The file holds one key a line, `name:key` or the key alone (named `key-<line>`); blank lines
and `#` comments are skipped. Keys are kept as SHA-256 digests, and a presented key is
compared with every one of them by `hmac.compare_digest`, with no early exit, so the time an
answer takes says nothing about which key, or how much of one, was right.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ApiKeyError", "ApiKeys"]

#: Shorter keys are refused at start-up: they can be guessed.
MIN_KEY_CHARS = 16


class ApiKeyError(ValueError):
    """The key file is unreadable or holds a bad line (the message names the line)."""


@dataclass(frozen=True, slots=True)
class ApiKeys:
    #: (name, sha256 of the key) of each key.
    digests: tuple[tuple[str, bytes], ...]

    @classmethod
    def load(cls, path: Path) -> ApiKeys:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ApiKeyError(f"cannot read {path}: {exc}") from None
        digests: list[tuple[str, bytes]] = []
        names: set[str] = set()
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, key = line.partition(":")
            if not sep:
                name, key = f"key-{number}", line
            name, key = name.strip(), key.strip()
            if len(key) < MIN_KEY_CHARS:
                raise ApiKeyError(
                    f"{path} line {number}: a key needs at least {MIN_KEY_CHARS} characters"
                )
            if not name or name in names:
                raise ApiKeyError(f"{path} line {number}: the name {name!r} is empty or repeated")
            names.add(name)
            digests.append((name, hashlib.sha256(key.encode()).digest()))
        if not digests:
            raise ApiKeyError(f"{path} holds no key")
        return cls(tuple(digests))

    def identify(self, presented: str) -> str | None:
        """The name of the key presented, or None; the same work whatever it matches."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        found = None
        for name, known in self.digests:
            if hmac.compare_digest(digest, known) and found is None:
                found = name
        return found
