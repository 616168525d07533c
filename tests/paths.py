"""Where the repository is, for tests that read its files (Makefile, lock files, dashboards):
one place, so that moving a test module to another folder depth changes nothing."""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[1]
