"""API keys from a file, compared in constant time, and the token bucket per key."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.serve.keys import ApiKeyError, ApiKeys
from consumer.serve.limits import RateLimiter


def test_keys_are_read_with_names_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# team keys\n\nalpha:aaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbb\n")
    keys = ApiKeys.load(path)
    assert keys.identify("aaaaaaaaaaaaaaaaaaaa") == "alpha"
    assert keys.identify("bbbbbbbbbbbbbbbbbbbb") == "key-4"
    assert keys.identify("aaaaaaaaaaaaaaaaaaa") is None
    assert keys.identify("") is None
    assert keys.identify("\udcff") is None  # not encodable as UTF-8: no match, no error


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "no key"),
        ("short:abc\n", "line 1: a key needs at least 16"),
        ("a:aaaaaaaaaaaaaaaaaaaa\na:bbbbbbbbbbbbbbbbbbbb\n", "line 2"),
    ],
)
def test_a_bad_key_file_is_refused_naming_the_line(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "keys"
    path.write_text(content)
    with pytest.raises(ApiKeyError, match=says):
        ApiKeys.load(path)


def test_a_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ApiKeyError, match="cannot read"):
        ApiKeys.load(tmp_path / "absent")


def test_the_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=4, clock=lambda: now[0])
    assert limiter.take("a", 4) == 0.0
    assert limiter.take("a", 1) == pytest.approx(0.5)
    assert limiter.take("b", 1) == 0.0, "each key has its own bucket"
    now[0] = 1.0
    assert limiter.take("a", 2) == 0.0
    now[0] = 100.0
    assert limiter.take("a", 4) == 0.0, "never more than the burst"
    assert limiter.take("a", 1) > 0
