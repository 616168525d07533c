"""The synthetic data folder the dataset tests read: every source's files, freshly written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.training.datasets_files import write_all

__all__ = ["data_root"]


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return write_all(tmp_path / "data")
