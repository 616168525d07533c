"""Policies per source: review and block thresholds per value of the input's `source` (or of
a metadata key), from a TOML file an operator edits, so that one worker serves tenants with
different risk appetites.

    # POLICY_FILE: what a binary model's probability means for each source.
    [default]                       # sources not listed below (omit: the model's own policy)
    review_threshold = 0.3

    [sources."kids-chat"]           # a value of `source` (or of POLICY_METADATA_KEY)
    threshold = 0.35                # the label is the positive one from here
    review_threshold = 0.1
    block_threshold = 0.5

    [sources."kids-chat".categories.hate_harassment]   # a kind of harm the model names
    threshold = 0.2

    [sources.translated]            # text in a language the model does not read: the
    other_languages = "model"       # model's action (by default it is reviewed)

A threshold a policy leaves out is the model's. A model that names kinds of harm decides
each verdict by its most probable kind's thresholds: a policy's `categories` table for that
kind first, then the policy's own thresholds, then the model's thresholds for that kind,
then the model's. The file is validated whole before it is
used: a syntax error, an unknown key, a threshold outside [0, 1] or a review threshold above
the block threshold stops start-up (or, on a reload, is refused while the previous policies
keep serving) with an error that names the file and the line.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from consumer.model.classifier import Policy, Thresholds

__all__ = ["DEFAULT_POLICY", "MODEL_POLICY", "PolicyFileError", "PolicySet", "load_policies"]

#: The name a verdict carries when the model's own policy decided it.
MODEL_POLICY = "model"
#: The name of the file's `[default]` table, for sources it does not list.
DEFAULT_POLICY = "default"

_FIELDS = ("threshold", "review_threshold", "block_threshold")
#: The key of a policy's per-category tables.
_CATEGORIES = "categories"
#: What text in a language the model does not read gets: `review` or the `model`'s action.
_OTHER_LANGUAGES = "other_languages"
_OTHER_LANGUAGES_VALUES = ("review", "model")
#: The keys a policy has besides its thresholds (a category's table has only thresholds).
_NESTED = (_CATEGORIES, _OTHER_LANGUAGES)

#: A policy as the file has it: thresholds, and thresholds by category.
Overrides = Mapping[str, Any]


class PolicyFileError(ValueError):
    """The policy file is invalid; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The thresholds of each listed source value over a model's own policy."""

    by_value: Mapping[str, Overrides]
    default: Overrides | None = None

    def names(self) -> list[str]:
        return sorted(self.by_value) + ([DEFAULT_POLICY] if self.default is not None else [])

    def choose(self, value: str | None) -> str:
        """The policy name for a source value: its own, the default, or the model's."""
        if value is not None and value in self.by_value:
            return value
        return DEFAULT_POLICY if self.default is not None else MODEL_POLICY

    def resolve(self, name: str, model: Policy) -> Policy:
        """The named policy over the model's: its thresholds replace the model's."""
        if name == MODEL_POLICY:
            return model
        overrides = self.default if name == DEFAULT_POLICY else self.by_value[name]
        # A review threshold at or above the block threshold leaves no review band: what
        # `Classifier` does with any policy (block first, then review).
        found = dict(overrides or {})
        own: Mapping[str, Mapping[str, float]] = found.get(_CATEGORIES, {})
        categories = {}
        for name in {*model.categories, *own}:
            kept = model.categories.get(name, Thresholds()).to_manifest()
            # The policy's own thresholds replace the model's per-category ones, and its
            # per-category ones replace both.
            values = {
                key: own.get(name, {}).get(key, None if key in found else kept[key])
                for key in _FIELDS
            }
            categories[name] = Thresholds(**values)
        return replace(
            model,
            threshold=found.get("threshold", model.threshold),
            review_threshold=found.get("review_threshold", model.review_threshold),
            block_threshold=found.get("block_threshold", model.block_threshold),
            categories=categories,
            other_languages=found.get(_OTHER_LANGUAGES, model.other_languages),
        )

    def categories(self) -> set[str]:
        """Every category the file names."""
        tables = [*self.by_value.values(), *([self.default] if self.default else [])]
        return {name for table in tables for name in table.get(_CATEGORIES, {})}


def load_policies(path: Path) -> PolicySet:
    """Read and validate a policy file (`PolicyFileError` naming the line on any problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"{path}: cannot read it: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{path}: {exc}") from None
    lines = text.splitlines()
    unknown = sorted(set(data) - {"default", "sources"})
    if unknown:
        line = _line_of(lines, unknown[0], None)
        raise PolicyFileError(
            f"{path}:{line}: unknown table or key {unknown[0]!r} (expected [default] and "
            '[sources."<value>"])'
        )
    default = data.get("default")
    sources = data.get("sources", {})
    if not isinstance(sources, dict):
        raise PolicyFileError(f"{path}:{_line_of(lines, 'sources', None)}: sources must be a table")
    by_value = {}
    for value, table in sources.items():
        by_value[value] = _thresholds(path, lines, f"sources.{_quoted(value)}", value, table)
    return PolicySet(
        by_value,
        None if default is None else _thresholds(path, lines, "default", "default", default),
    )


def _thresholds(
    path: Path, lines: list[str], header: str, name: str, table: Any, nested: bool = True
) -> dict[str, Any]:
    where = _header_line(lines, header)
    if not isinstance(table, dict):
        raise PolicyFileError(f"{path}:{where}: {name!r} must be a table of thresholds")
    if not name.strip():
        raise PolicyFileError(f"{path}:{where}: a source value must not be empty")
    out: dict[str, Any] = {}
    for key, value in table.items():
        line = _line_of(lines, key, where)
        if key == _CATEGORIES and nested:
            if not isinstance(value, dict):
                raise PolicyFileError(f"{path}:{line}: [{header}] categories must be a table")
            out[key] = {
                category: _thresholds(
                    path, lines, f"{header}.categories.{_quoted(category)}", category, inner, False
                )
                for category, inner in value.items()
            }
            continue
        if key == _OTHER_LANGUAGES and nested:
            if value not in _OTHER_LANGUAGES_VALUES:
                raise PolicyFileError(
                    f"{path}:{line}: [{header}] other_languages must be "
                    f'"review" or "model", got {value!r}'
                )
            out[key] = value
            continue
        if key not in _FIELDS:
            raise PolicyFileError(
                f"{path}:{line}: [{header}] has an unknown key {key!r} "
                f"(expected {', '.join(_FIELDS + (_NESTED if nested else ()))})"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyFileError(
                f"{path}:{line}: [{header}] {key} must be a number, got {value!r}"
            )
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise PolicyFileError(f"{path}:{line}: [{header}] {key} = {value} is not in [0, 1]")
        out[key] = float(value)
    review, block = out.get("review_threshold"), out.get("block_threshold")
    if review is not None and block is not None and review > block:
        line = _line_of(lines, "review_threshold", where)
        raise PolicyFileError(
            f"{path}:{line}: [{header}] review_threshold {review} is above block_threshold {block}"
        )
    return out


def _quoted(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9_-]+", value) else f'"{value}"'


def _header_line(lines: list[str], header: str) -> int:
    """The 1-based line of `[header]` (quotes and spaces as written may differ)."""
    wanted = header.replace('"', "").replace(" ", "")
    for number, line in enumerate(lines, start=1):
        stripped = line.split("#", 1)[0].strip()
        if (
            stripped.startswith("[")
            and stripped.strip("[]").replace('"', "").replace("'", "").replace(" ", "") == wanted
        ):
            return number
    return 0


def _line_of(lines: list[str], key: str, after: int | None) -> int:
    """The 1-based line where `key =` (or `[key`) appears, from line `after` on."""
    start = after or 0
    pattern = re.compile(rf"^\s*(\[{re.escape(key)}\b|\"?{re.escape(key)}\"?\s*=)")
    for number, line in enumerate(lines[start:], start=start + 1):
        if after and number > after and line.strip().startswith("["):
            break
        if pattern.match(line):
            return number
    return after or 0
