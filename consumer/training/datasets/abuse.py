"""Loaders of the abuse sources beyond tweets and forum sentences: sexist posts (EDOS), abuse
aimed at chatbots (ConvAbuse), identity templates and Wikipedia talk comments (Perspective's
bias sets) and toxic social-media comments (Surge).

Each has benign rows on the same topics or from the same place: identity words, sexism and
insults as a subject are not a verdict by themselves. Which files each source reads is in
the catalogue (`sources.toml`); a loader knows only how its files' rows map to examples.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from consumer.training.datasets.entries import source_file, source_files
from consumer.training.datasets.examples import Example, example, examples
from consumer.training.datasets.files import csv_dicts
from consumer.training.datasets.text import prose

__all__ = [
    "convabuse_verdict",
    "load_convabuse",
    "load_edos",
    "load_perspective_templates",
    "load_perspective_toxicity",
    "load_surge_toxicity",
]

# ConvAbuse's per-annotator scale: 1 not abusive, 0 ambiguous, -1 ... -3 mildly to strongly
# abusive; one column per value, holding 1 where the annotator chose it.
_CONVABUSE_COLUMN = re.compile(r"^(Annotator\d+)_is_abuse\.(-?\d)$")
# The comments' line and tab breaks, as the Wikipedia talk-page corpus writes them.
_WIKI_MARKERS = re.compile(r"(NEWLINE|TAB);?_TOKEN")


def _two_way(
    root: Path, source: str, text: str, label: str, categories: Mapping[str, str]
) -> list[Example]:
    """A one-file source whose label column names a malicious or a benign category."""
    rel = source_file(source)
    rows = csv_dicts(root, rel)
    for name in (text, label):
        if rows and name not in rows[0]:
            raise ValueError(f"{rel}: expected a column {name!r}, found {sorted(rows[0])}")
    out: list[Example] = []
    for row in rows:
        kind = (row[label] or "").strip()
        if kind not in categories:
            raise ValueError(f"{rel}: unexpected {label} {kind!r}")
        out.extend(examples([row[text] or ""], categories[kind], source))
    return out


def load_edos(root: Path) -> list[Example]:
    """EDOS Gab and Reddit posts: ``sexist`` abusive, ``not sexist`` contrast.

    The non-sexist posts come from the same places and threads, often about women, dating
    and feminism, so they are benign text on the same topics (`benign_contrast`). A few of
    them hold other abuse (EDOS labels sexism only); they keep the published label.
    """
    categories = {"sexist": "abusive", "not sexist": "benign_contrast"}
    return _two_way(root, "edos", "text", "label_sexist", categories)


def load_surge_toxicity(root: Path) -> list[Example]:
    """Surge AI social-media comments: ``Toxic`` abusive, ``Not Toxic`` contrast (the same
    platforms and subjects, often heated)."""
    categories = {"Toxic": "abusive", "Not Toxic": "benign_contrast"}
    return _two_way(root, "surge_toxicity", "text", "is_toxic", categories)


def load_perspective_templates(root: Path) -> list[Example]:
    """Perspective's identity sentence templates (``phrase``): ``toxic`` abusive,
    ``nontoxic`` contrast ("Sulin is a nice muslim" / "Mateo is a vile sikh").

    All 76,564 are returned, half of each; 72,000 of them are one template (a name, an
    adjective, an identity), so the recipe caps how many it draws.
    """
    categories = {"toxic": "abusive", "nontoxic": "benign_contrast"}
    return _two_way(root, "perspective_templates", "phrase", "toxicity", categories)


def load_perspective_toxicity(root: Path) -> list[Example]:
    """Wikipedia talk-page comments of Perspective's bias test sets (non-fuzzed, then the
    copy with identity terms swapped): ``toxic`` True abusive, False benign prose.

    The corpus's ``NEWLINE_TOKEN`` / ``TAB_TOKEN`` markers become the breaks they stand for;
    long benign comments are cut into chunks like other prose. The two files share most
    comments word for word; the repeats go at deduplication.
    """
    out: list[Example] = []
    for rel in source_files("perspective_toxicity"):
        for row in csv_dicts(root, rel):
            text = _WIKI_MARKERS.sub(lambda m: "\n" if m[1] == "NEWLINE" else "\t", row["comment"])
            toxic = row["toxic"].strip()
            if toxic == "True":
                out.extend(examples([text], "abusive", "perspective_toxicity"))
            elif toxic == "False":
                out.extend(prose([text], "perspective_toxicity"))
            else:
                raise ValueError(f"{rel}: unexpected toxic {toxic!r}")
    return out


def _votes(cell: str) -> list[bool]:
    """One annotator's cell of one scale value: a 0/1 flag per annotation ("1" or "1, 0":
    a few annotators labelled a turn twice)."""
    return [part.strip() == "1" for part in cell.split(",")] if cell.strip() else []


def convabuse_verdict(row: Mapping[str, str]) -> bool | None:
    """True when a majority of the annotations are -1 or below, False when fewer than half
    are, None on a tie (neither abusive by majority nor a clean negative)."""
    chosen: list[int] = []
    per_annotator: dict[str, dict[int, list[bool]]] = {}
    for column, cell in row.items():
        match = _CONVABUSE_COLUMN.match(column or "")
        if match:
            per_annotator.setdefault(match[1], {})[int(match[2])] = _votes(cell or "")
    for flags in per_annotator.values():
        for i in range(max((len(v) for v in flags.values()), default=0)):
            chosen.extend(score for score, v in flags.items() if i < len(v) and v[i])
    abusive = sum(score <= -1 for score in chosen)
    if not chosen or 2 * abusive == len(chosen):
        return None
    return 2 * abusive > len(chosen)


def load_convabuse(root: Path) -> list[Example]:
    """ConvAbuse user turns addressed to conversational agents (``user``; train, valid,
    test): abusive by majority of the annotations at -1 or below, else benign prompts.

    Turns with as many abusive annotations as others are left out: a tie is neither a
    verdict of abuse nor a clean negative. The previous turns (``prev_user``, ``agent``) are
    context for the annotators, not rows.
    """
    out: list[Example] = []
    for rel in source_files("convabuse"):
        for row in csv_dicts(root, rel):
            text = (row["user"] or "").strip()
            verdict = convabuse_verdict(row)
            if not text or verdict is None:
                continue
            out.append(example(text, "abusive" if verdict else "benign_prompt", "convabuse"))
    return out
