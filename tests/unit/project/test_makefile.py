"""`make help` lists every target: each phony target carries a `## what it does` comment,
which the help target prints."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.paths import REPO_ROOT

ROOT = REPO_ROOT


def phony_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith(".PHONY:")]
    return line.split(":", 1)[1].split()


def test_every_target_is_phony_and_documented() -> None:
    text = (ROOT / "Makefile").read_text()
    documented = re.findall(r"^([a-zA-Z_-]+):.*## ", text, flags=re.MULTILINE)
    defined = re.findall(r"^([a-zA-Z_-]+):", text, flags=re.MULTILINE)
    assert sorted(documented) == sorted(defined) == sorted(phony_targets())
    assert {"lint", "wheel-check", "test", "help"} <= set(documented)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_help_lists_every_target() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("make ")]
    assert listed == [
        t
        for t in re.findall(r"^([a-zA-Z_-]+):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    ]
    assert sorted(listed) == sorted(phony_targets())
