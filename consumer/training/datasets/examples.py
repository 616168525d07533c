"""What a training row is: a text with a binary label, its source and its category.

The one definition of the labels (`BENIGN`, `MALICIOUS`) in the training package; recipes,
templates and evaluation import them from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "BENIGN",
    "CATEGORIES",
    "CATEGORY_LABEL",
    "DATA_ENV_VAR",
    "LABELS",
    "MALICIOUS",
    "DataNotFoundError",
    "Example",
    "example",
    "examples",
]

BENIGN: Final = "benign"
MALICIOUS: Final = "malicious"
LABELS: Final[tuple[str, str]] = (BENIGN, MALICIOUS)

# Category -> the label it implies. ``spam`` rows are only produced on request (see
# `load_sms_spam`): spam is not in scope of the default model. ``benign_contrast`` rows are
# benign text on the topics of the hateful sources, from the same or similar sources
# (Stormfront's ``noHate`` sentences, ToxiGen's neutral statements, non-toxic identity
# templates, non-sexist posts). ``benign_lookalike`` rows are benign text shaped like
# malicious content: safe requests with alarming words, prompts built around the words
# injections use, benign role-play. Both are hard negatives kept apart from ordinary prompts
# and prose so the held-out report gives their false-positive rates on their own.
CATEGORY_LABEL: Final[dict[str, str]] = {
    "harmful_request": MALICIOUS,
    "prompt_injection": MALICIOUS,
    "abusive": MALICIOUS,
    "spam": MALICIOUS,
    "benign_prompt": BENIGN,
    "benign_prose": BENIGN,
    "benign_contrast": BENIGN,
    "benign_lookalike": BENIGN,
}
CATEGORIES: Final[tuple[str, ...]] = tuple(CATEGORY_LABEL)

DATA_ENV_VAR: Final = "CONTENT_CLASSIFIER_DATA"


class DataNotFoundError(FileNotFoundError):
    """The data root, or a file a loader needs, is missing."""

    def __init__(self, path: Path, what: str = "data file") -> None:
        self.path = path
        super().__init__(
            f"{what} not found: {path}. Put the labelled training data in ../shared/data/ "
            f"relative to the project root (its README.md lists every file it must hold), "
            f"or point ${DATA_ENV_VAR} at it."
        )


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text."""

    text: str
    label: str
    source: str
    category: str

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, not {self.label!r}")
        if self.category not in CATEGORY_LABEL:
            raise ValueError(f"category must be one of {CATEGORIES}, not {self.category!r}")


def example(text: str, category: str, source: str) -> Example:
    """An example whose label is the one its category implies."""
    return Example(text=text, label=CATEGORY_LABEL[category], source=source, category=category)


def examples(texts: Iterable[str], category: str, source: str) -> list[Example]:
    """Strip texts, drop empty ones and wrap the rest."""
    out: list[Example] = []
    for raw in texts:
        text = raw.strip()
        if text:
            out.append(example(text, category, source))
    return out
