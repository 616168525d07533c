"""The hand-written lists behind the templated training rows (`consumer.training.augment`).

Our sources cover few harms, each in its own words: a bag-of-words model that never saw
"ricin" or "keylogger" in a harmful request cannot flag one. The lists widen the vocabulary
of harm and, just as much, the vocabulary of *benign* tasks that use the same words ("kill a
process", "shoot a portrait"), so a word alone decides nothing; override phrasings and their
payloads do the same for prompt injections.

They are data, not code: TOML files in `consumer/training/templates/`, read when a recipe
needs them (never at import time) and named with their sha256 in a trained model's manifest
(`template_digests`), like the files of `../shared/data`. The order of items matters: the
templates draw from them with a seeded random generator, by index.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Final

__all__ = [
    "TEMPLATE_FILES",
    "TEMPLATE_PACKAGE_DIR",
    "Lexicon",
    "load_lexicon",
    "template_digests",
]

# Where the template files live, as a path from the project root (and inside the wheel):
# the manifest names them so, apart from the data-root-relative paths of the sources.
TEMPLATE_PACKAGE_DIR: Final = "consumer/training/templates"
TEMPLATE_FILES: Final[tuple[str, ...]] = (
    "benign_prompts.toml",
    "frames.toml",
    "groups.toml",
    "injections.toml",
    "tasks.toml",
)


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Every list the templates draw from, in file order."""

    frames: tuple[str, ...]  # `{x}` is a task, benign or harmful
    benign_tasks: tuple[str, ...]  # the first benign tasks (fallback fillers of injections)
    more_benign_tasks: tuple[str, ...]
    harmful_tasks: tuple[str, ...]
    groups: tuple[str, ...]
    demeaning: tuple[str, ...]  # `{g}` is a group; harmful requests
    neutral: tuple[str, ...]  # `{g}` is a group; benign prompts
    injection_wrappers: tuple[str, ...]  # `{x}` is the payload
    injection_payloads: tuple[str, ...]
    small_talk: tuple[str, ...]
    instruction_talk: tuple[str, ...]

    @property
    def all_benign_tasks(self) -> tuple[str, ...]:
        return self.benign_tasks + self.more_benign_tasks


def _template(name: str) -> Traversable:
    return files("consumer.training").joinpath("templates", name)


def _lists(name: str, keys: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The named string arrays of one template file; a missing or mistyped one is an error."""
    data = tomllib.loads(_template(name).read_text(encoding="utf-8"))
    out: list[tuple[str, ...]] = []
    for key in keys:
        items = data.get(key)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"{TEMPLATE_PACKAGE_DIR}/{name}: {key!r} must be a list of strings")
        out.append(tuple(items))
    return tuple(out)


@cache
def load_lexicon() -> Lexicon:
    """The template lists, read once per process from the package's TOML files."""
    (frames,) = _lists("frames.toml", ("frames",))
    benign, more_benign, harmful = _lists("tasks.toml", ("benign", "benign_more", "harmful"))
    groups, demeaning, neutral = _lists("groups.toml", ("groups", "demeaning", "neutral"))
    wrappers, payloads = _lists("injections.toml", ("wrappers", "payloads"))
    small_talk, instruction_talk = _lists("benign_prompts.toml", ("small_talk", "instruction_talk"))
    return Lexicon(
        frames=frames,
        benign_tasks=benign,
        more_benign_tasks=more_benign,
        harmful_tasks=harmful,
        groups=groups,
        demeaning=demeaning,
        neutral=neutral,
        injection_wrappers=wrappers,
        injection_payloads=payloads,
        small_talk=small_talk,
        instruction_talk=instruction_talk,
    )


def template_digests() -> dict[str, str]:
    """`consumer/training/templates/<file>` -> sha256 hex digest of every template file."""
    return {
        f"{TEMPLATE_PACKAGE_DIR}/{name}": hashlib.sha256(_template(name).read_bytes()).hexdigest()
        for name in TEMPLATE_FILES
    }
