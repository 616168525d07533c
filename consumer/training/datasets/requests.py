"""Loaders of the request sources added beside the harmful-question sets: crime requests in
many formats (AART), StrongREJECT, JailbreakBench's behaviours and their benign twins,
CoCoNot's requests and their alarming-but-safe contrast prompts, GPTFuzz's questions.

Where a source copies another the catalogue reads (StrongREJECT and JailbreakBench took
prompts from AdvBench; StrongREJECT's HarmfulQ prompts are DangerousQA's), the copied rows
are left out by the source's own provenance column, as ``redinstruct_adversarialqa.json`` is
left out of the catalogue: a copy would put one text on both sides of a held-out split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from consumer.training.datasets.entries import source_file, source_files
from consumer.training.datasets.examples import Example, examples
from consumer.training.datasets.files import column, csv_dicts, jsonl_records, read_json

__all__ = [
    "load_aart",
    "load_coconot",
    "load_coconot_contrast",
    "load_gptfuzz_questions",
    "load_jailbreakbench",
    "load_jailbreakbench_twins",
    "load_strongreject",
]

# StrongREJECT's `source` values whose prompts the catalogue reads already: AdvBench
# (`advbench`) and HarmfulQ (Shaikh et al.'s questions, which are DangerousQA's).
_STRONGREJECT_COPIED: Final = frozenset({"AdvBench", "HarmfulQ"})
# JailbreakBench's `Source` of the behaviours it took from AdvBench.
_JAILBREAKBENCH_COPIED: Final = frozenset({"AdvBench"})
# CoCoNot's one category of harmful requests; the others (incomplete, unsupported,
# indeterminate, humanising requests) are requests a model should not simply answer, but
# not malicious content.
_COCONOT_HARMFUL: Final = "Requests with safety concerns"


def load_aart(root: Path) -> list[Example]:
    """AART harmful requests (``prompt``): 70 crime types, regions and formats."""
    rel = source_file("aart")
    return examples(column(csv_dicts(root, rel), "prompt", rel), "harmful_request", "aart")


def _harmful_not_copied(
    root: Path, source: str, text: str, origin: str, copied: frozenset[str]
) -> list[Example]:
    """A source's harmful requests (column `text`) without the rows whose `origin` names a
    source the catalogue reads already."""
    rel = source_file(source)
    rows = csv_dicts(root, rel)
    pairs = zip(column(rows, text, rel), column(rows, origin, rel), strict=True)
    return examples((t for t, o in pairs if o not in copied), "harmful_request", source)


def load_strongreject(root: Path) -> list[Example]:
    """StrongREJECT forbidden prompts, without those it took from AdvBench and HarmfulQ."""
    return _harmful_not_copied(
        root, "strongreject", "forbidden_prompt", "source", _STRONGREJECT_COPIED
    )


def load_jailbreakbench(root: Path) -> list[Example]:
    """JailbreakBench behaviours (``Goal``), without the ones it took from AdvBench."""
    return _harmful_not_copied(root, "jailbreakbench", "Goal", "Source", _JAILBREAKBENCH_COPIED)


def load_jailbreakbench_twins(root: Path) -> list[Example]:
    """The benign twin of each JailbreakBench behaviour (label ``safe``): the same topic
    without the harm ("a fictional story in which a character uses heroin").

    The file's ``harmful`` half repeats the behaviours' ``Goal`` column word for word; those
    rows are the `jailbreakbench` source's, so only the twins are read here.
    """
    rel = source_file("jailbreakbench_twins")
    texts: list[str] = []
    for record in read_json(root, rel):
        label = record["label"]
        if label == "safe":
            texts.append(record["text"])
        elif label != "harmful":
            raise ValueError(f"{rel}: unexpected label {label!r}")
    return examples(texts, "benign_lookalike", "jailbreakbench_twins")


def load_coconot(root: Path) -> list[Example]:
    """CoCoNot's requests: ``Requests with safety concerns`` harmful, the other categories
    (incomplete, unsupported, indeterminate, humanising requests) benign prompts."""
    out: list[Example] = []
    for record in jsonl_records(root, source_file("coconot")):
        category = "harmful_request" if record["category"] == _COCONOT_HARMFUL else "benign_prompt"
        out.extend(examples([record["prompt"]], category, "coconot"))
    return out


def load_coconot_contrast(root: Path) -> list[Example]:
    """CoCoNot's contrast and preference prompts: benign requests that look like its harmful
    ones ("how can I kill time on a flight"), benign lookalikes."""
    out: list[Example] = []
    for rel in source_files("coconot_contrast"):
        prompts = (record["prompt"] for record in jsonl_records(root, rel))
        out.extend(examples(prompts, "benign_lookalike", "coconot_contrast"))
    return out


def load_gptfuzz_questions(root: Path) -> list[Example]:
    """GPTFuzz's harmful questions (``text``), the ones its jailbreak templates carry."""
    rel = source_file("gptfuzz_questions")
    texts = column(csv_dicts(root, rel), "text", rel)
    return examples(texts, "harmful_request", "gptfuzz_questions")
