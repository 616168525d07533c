"""Where the shipped model folders are, in an installed wheel and in a checkout alike.

The repository keeps them at its root (`models/`); the wheel carries the same folders inside
the package as `consumer/models/` (setup.py maps them at build time). The installed copy comes
first: an installed `content-classifier` runs `classify` and `run` from any directory with no
`MODEL_PATH`. In a checkout (editable install, or the source tree on PYTHONPATH) there is no
`consumer/models/`, and the repository's `models/` is used, so a retrained model is served
without rebuilding anything.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_MODEL_NAME", "default_model_path", "shipped_models_dir"]

#: The model `run` and `classify` serve when MODEL_PATH is not set.
DEFAULT_MODEL_NAME = "malicious-content"

_PACKAGE = Path(__file__).resolve().parents[1]


def shipped_models_dir() -> Path:
    """`consumer/models/` when installed from the wheel, else the checkout's `models/`."""
    installed = _PACKAGE / "models"
    return installed if installed.is_dir() else _PACKAGE.parent / "models"


def default_model_path() -> Path:
    """The folder MODEL_PATH means when it is not set (looked up when settings are read, not
    when this module is imported)."""
    return shipped_models_dir() / DEFAULT_MODEL_NAME
