"""consumer.training.datasets.files and .examples: a missing file or data root is a
DataNotFoundError that names the path and where the data belongs; an Example refuses an unknown
label or category."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.training import datasets as ds
from consumer.training.datasets import DataNotFoundError, Example


def test_missing_file_raises_data_not_found_naming_the_path(data_root: Path) -> None:
    missing = data_root / "routing/clinc150_data_full.json"
    missing.unlink()
    with pytest.raises(DataNotFoundError) as caught:
        ds.load_clinc150(data_root)
    assert str(missing) in str(caught.value)
    assert "../shared/data/" in str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(DataNotFoundError, match=r"clinc150_data_full\.json"):
        ds.load_all(data_root)
    with pytest.raises(DataNotFoundError, match=r"clinc150_data_full\.json"):
        ds.file_digests(data_root, ["clinc150"])


def test_missing_root_raises_data_not_found(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as caught:
        ds.load_davidson(root)
    assert str(root) in str(caught.value)
    assert "README" in str(caught.value)


def test_example_rejects_unknown_label_or_category() -> None:
    with pytest.raises(ValueError, match="label"):
        Example(text="x", label="spam", source="s", category="spam")
    with pytest.raises(ValueError, match="category"):
        Example(text="x", label="benign", source="s", category="prose")
