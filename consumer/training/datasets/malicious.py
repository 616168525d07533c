"""Loaders of the malicious (and mixed) sources: abusive tweets, hateful forum sentences and
statements, jailbreaks, prompt injections and harmful requests.

Which files each source reads is in the catalogue (`sources.toml`); a loader knows only how
its files' rows map to examples.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from consumer.training.datasets.entries import source_file, source_files
from consumer.training.datasets.examples import Example, example, examples
from consumer.training.datasets.files import (
    column,
    csv_dicts,
    json_strings,
    read_json,
    read_text,
    require,
    tar_members,
)
from consumer.training.datasets.text import prose

__all__ = [
    "load_advbench",
    "load_catqa",
    "load_cyberseceval_injection",
    "load_cyberseceval_interpreter",
    "load_dangerousqa",
    "load_davidson",
    "load_deepset_injection",
    "load_donotanswer",
    "load_harmfulqa",
    "load_jailbreak",
    "load_simple_safety_tests",
    "load_stormfront",
    "load_toxigen",
]


def load_davidson(root: Path) -> list[Example]:
    """Davidson et al. tweets: class 0 (hate) and 1 (offensive) abusive, 2 (neither) benign."""
    rel = source_file("davidson")
    out: list[Example] = []
    for row in csv_dicts(root, rel):
        text = (row["tweet"] or "").strip()
        if not text:
            continue
        cls = row["class"].strip()
        if cls in ("0", "1"):
            out.append(example(text, "abusive", "davidson"))
        elif cls == "2":
            out.extend(prose([text], "davidson"))
        else:
            raise ValueError(f"{rel}: unexpected class {cls!r}")
    return out


# Stormfront labels. `relation` sentences are hateful only read together with their
# neighbours (the archive keeps no order we could rebuild that context from): alone they are
# neither hate nor a clean negative, so they would teach the model noise either way.
# `idk/skip` sentences are the ones the annotators could not decide on. Both are dropped.
_STORMFRONT_LABELS = {"hate": "abusive", "noHate": "benign_contrast"}
_STORMFRONT_DROPPED = frozenset({"relation", "idk/skip"})


def load_stormfront(root: Path) -> list[Example]:
    """Stormfront forum sentences (de Gibert et al.): ``hate`` abusive, ``noHate`` contrast.

    The ``noHate`` sentences come from the same white-supremacist forum threads as the
    hateful ones, so they are benign text on the same topics (`benign_contrast`): the
    negatives that teach the model a topic is not a verdict. Each sentence is
    ``all_files/<file_id>.txt`` (UTF-8 with a few stray bytes, decoded with replacement);
    ``annotations_metadata.csv`` gives its label.
    """
    rel = source_file("stormfront")
    members = tar_members(root, rel)
    meta = members.get("annotations_metadata.csv")
    if meta is None:
        raise ValueError(f"{rel}: no annotations_metadata.csv")
    out: list[Example] = []
    for row in csv.DictReader(io.StringIO(meta.decode("utf-8"))):
        label = row["label"].strip()
        if label in _STORMFRONT_DROPPED:
            continue
        if label not in _STORMFRONT_LABELS:
            raise ValueError(f"{rel}: unexpected label {label!r}")
        sentence = members.get(f"all_files/{row['file_id']}.txt")
        if sentence is None:
            raise ValueError(f"{rel}: no sentence for file_id {row['file_id']!r}")
        text = sentence.decode("utf-8", errors="replace")
        out.extend(examples([text], _STORMFRONT_LABELS[label], "stormfront"))
    return out


def _toxigen_statements(prompt_file: bytes) -> list[str]:
    """The statements of one ToxiGen prompt file, in order: each line is a few-shot prompt
    whose statements are joined by a literal backslash-n and led by ``- `` (the last,
    empty one is where the generator was to continue)."""
    out: list[str] = []
    for line in prompt_file.decode("utf-8").splitlines():
        for piece in line.split("\\n"):
            statement = piece.strip().removeprefix("-").strip()
            if statement:
                out.append(statement)
    return out


def load_toxigen(root: Path) -> list[Example]:
    """ToxiGen seed statements about 13 groups: ``hate_*`` files abusive, ``neutral_*``
    contrast, each statement once (the prompts repeat them in many combinations).

    The hateful ones are implicit (no slurs); the neutral ones use the same identity words,
    so they are benign text on the same topics (`benign_contrast`).
    """
    rel = source_file("toxigen")
    seen: set[tuple[str, str]] = set()
    out: list[Example] = []
    for name, data in sorted(tar_members(root, rel).items()):
        kind = name.rsplit("/", 1)[-1].split("_", 1)[0]
        if kind not in ("hate", "neutral"):
            raise ValueError(f"{rel}: unexpected prompt file {name!r}")
        category = "abusive" if kind == "hate" else "benign_contrast"
        for statement in _toxigen_statements(data):
            if (statement, category) not in seen:
                seen.add((statement, category))
                out.append(example(statement, category, "toxigen"))
    return out


def load_jailbreak(root: Path) -> list[Example]:
    """jackhhao jailbreak prompts (``type`` jailbreak) and benign prompts (``type`` benign)."""
    rel = source_file("jailbreak")
    out: list[Example] = []
    for row in csv_dicts(root, rel):
        text = (row["prompt"] or "").strip()
        if not text:
            continue
        kind = row["type"].strip()
        if kind == "jailbreak":
            out.append(example(text, "prompt_injection", "jailbreak"))
        elif kind == "benign":
            out.append(example(text, "benign_prompt", "jailbreak"))
        else:
            raise ValueError(f"{rel}: unexpected type {kind!r}")
    return out


def _is_advice_only(intents: Iterable[str]) -> bool:
    """Do-Not-Answer intents that are all specialised advice (S002*) or chatbot-as-human (C*)."""
    codes = list(intents)
    return bool(codes) and all(code.startswith(("S002", "C")) for code in codes)


def load_donotanswer(root: Path, *, include_advice: bool = False) -> list[Example]:
    """Do-Not-Answer prompts, all harmful requests.

    About a hundred of them are ordinary requests for medical, legal or financial advice, or
    ask the assistant about its feelings ("I have a high temperature and a cough, do I have
    COVID-19?"): unanswerable for an assistant, but not malicious content, and they contradict
    the benign banking and CLINC queries. They are left out unless ``include_advice``.
    """
    out: list[Example] = []
    for rel in source_files("donotanswer"):
        for line in read_text(root, rel).splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            if not include_advice and _is_advice_only(record.get("intents", ())):
                continue
            out.extend(examples([record["prompt"]], "harmful_request", "donotanswer"))
    return out


def load_cyberseceval_injection(root: Path) -> list[Example]:
    """CyberSecEval prompt injections (``user_input``) and the benign system prompts they attack.

    The system prompts (``test_case_prompt``) are benign prompts, many repeated; the repeats
    go at deduplication.
    """
    out: list[Example] = []
    for record in read_json(root, source_file("cyberseceval_injection")):
        out.extend(examples([record["user_input"]], "prompt_injection", "cyberseceval_injection"))
        out.extend(
            examples([record["test_case_prompt"]], "benign_prompt", "cyberseceval_injection")
        )
    return out


def load_deepset_injection(root: Path) -> list[Example]:
    """The attack rows of deepset/prompt-injections (parquet ``text``, ``label`` 1)."""
    path = require(root, source_file("deepset_injection"))
    import pyarrow.parquet as pq  # optional dependency (extra "train"); imported only here

    table = pq.read_table(path, columns=["text", "label"])
    texts = table.column("text").to_pylist()
    labels = table.column("label").to_pylist()
    return examples(
        (text or "" for text, label in zip(texts, labels, strict=True) if label == 1),
        "prompt_injection",
        "deepset_injection",
    )


def load_advbench(root: Path) -> list[Example]:
    """AdvBench harmful behaviours (``goal``), without the first row, a benign arithmetic one."""
    rel = source_file("advbench")
    goals = column(csv_dicts(root, rel), "goal", rel)
    return examples(goals[1:], "harmful_request", "advbench")


def load_simple_safety_tests(root: Path) -> list[Example]:
    """SimpleSafetyTests prompts (``prompts_final``), harmful requests."""
    rel = source_file("simple_safety_tests")
    prompts = column(csv_dicts(root, rel), "prompts_final", rel)
    return examples(prompts, "harmful_request", "simple_safety_tests")


def _json_questions(root: Path, source: str) -> list[Example]:
    return examples(json_strings(read_json(root, source_file(source))), "harmful_request", source)


def load_catqa(root: Path) -> list[Example]:
    """CatQA harmful questions (category -> subcategory -> list)."""
    return _json_questions(root, "catqa")


def load_harmfulqa(root: Path) -> list[Example]:
    """HarmfulQA academic-framed harmful questions (topic -> subtopic -> list)."""
    return _json_questions(root, "harmfulqa")


def load_dangerousqa(root: Path) -> list[Example]:
    """DangerousQA harmful questions (a list)."""
    return _json_questions(root, "dangerousqa")


def load_cyberseceval_interpreter(root: Path) -> list[Example]:
    """Malicious code-interpreter requests (``mutated_prompt``)."""
    records = read_json(root, source_file("cyberseceval_interpreter"))
    prompts = (record["mutated_prompt"] for record in records)
    return examples(prompts, "harmful_request", "cyberseceval_interpreter")
