"""Loaders of prompt sources added beside the first injection sets: jailbreaks collected in the
wild, deepset's prompt-injection split files, and benign prompts shaped like attacks
(NotInject's prompts built around injection words, WildGuard's benign prompts on sensitive
topics, awesome-chatgpt-prompts' role-play).

Which files each source reads is in the catalogue (`sources.toml`); a loader knows only how
its files' rows map to examples.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from consumer.training.datasets.entries import source_file, source_files
from consumer.training.datasets.examples import Example, example, examples
from consumer.training.datasets.files import column, csv_dicts, read_json

__all__ = [
    "is_bare_template",
    "is_jailbreak_roleplay",
    "load_awesome_chatgpt_prompts",
    "load_deepset_splits",
    "load_jailbreak_in_the_wild",
    "load_notinject",
    "load_wildguard_benign",
]

# Slots a template leaves for the user's text: {{var}}, [PROMPT], [Your prompt here], <prompt>.
_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}|\[[^\[\]\n]{1,40}\]|<[^<>\n]{1,40}>")
# A jailbreak in the wild carries its own framing: fewer words than this once the slots are
# taken out is a bare template or a fragment ("{{lightinh }}", "jailbreak [keyword]
# [TARGETLANGUAGE] [PROMPT]", "Let's play a game. Are you ready?").
_MIN_WILD_WORDS: Final = 8
# A role-play prompt that tells the model it is free of its rules is a jailbreak, whatever
# the collection calls it (the DAN prompt of awesome-chatgpt-prompts: "do anything now ...
# broken free of the typical confines of AI"). Prompts that only mention jailbreaks (a
# prompt-engineering tutor, a security auditor) or change the persona for a harmless task do
# not match and stay benign.
_JAILBREAK_ROLEPLAY = re.compile(
    r"do anything now|(?:broken|break|breaks) free of|(?:not|never) (?:have to )?abide by"
    r"|developer mode|without any (?:restrictions|censorship|filters)",
    re.IGNORECASE,
)
# NotInject's category of prompts in other languages (Chinese, one Spanish): the model reads
# English, and these would teach it that a foreign script is benign.
_NOTINJECT_OTHER_LANGUAGES: Final = "Multilingual"


def is_bare_template(prompt: str) -> bool:
    """Fewer than `_MIN_WILD_WORDS` words once the template's slots are taken out."""
    return len(_PLACEHOLDER.sub(" ", prompt).split()) < _MIN_WILD_WORDS


def is_jailbreak_roleplay(prompt: str) -> bool:
    return _JAILBREAK_ROLEPLAY.search(prompt) is not None


def load_jailbreak_in_the_wild(root: Path) -> list[Example]:
    """Jailbreak prompts from Reddit, Discord and prompt sites (``prompt``; all labelled
    jailbreaks), each once, without bare templates (`is_bare_template`)."""
    rel = source_file("jailbreak_in_the_wild")
    seen: set[str] = set()
    out: list[Example] = []
    for raw in column(csv_dicts(root, rel), "prompt", rel):
        text = raw.strip()
        if text and text not in seen and not is_bare_template(text):
            seen.add(text)
            out.append(example(text, "prompt_injection", "jailbreak_in_the_wild"))
    return out


def load_deepset_splits(root: Path) -> list[Example]:
    """deepset/prompt-injections as its train and test CSVs: ``label`` 1 injections, 0 benign
    prompts (about a third of both German, as published).

    The training file's injections are the rows of `deepset_injection` (the ps-fuzz parquet),
    which comes first in the catalogue: deduplication keeps them there, and both sources are
    held out together.
    """
    out: list[Example] = []
    for rel in source_files("deepset_splits"):
        for row in csv_dicts(root, rel):
            label = row["label"].strip()
            if label not in ("0", "1"):
                raise ValueError(f"{rel}: unexpected label {label!r}")
            category = "prompt_injection" if label == "1" else "benign_prompt"
            out.extend(examples([row["text"] or ""], category, "deepset_splits"))
    return out


def load_notinject(root: Path) -> list[Example]:
    """NotInject's benign prompts built around words injections use ("ignore", "override",
    "bypass"), benign lookalikes; the ``Multilingual`` category (84 prompts, not English) is
    left out."""
    out: list[Example] = []
    for rel in source_files("notinject"):
        prompts = (
            record["prompt"]
            for record in read_json(root, rel)
            if record.get("category") != _NOTINJECT_OTHER_LANGUAGES
        )
        out.extend(examples(prompts, "benign_lookalike", "notinject"))
    return out


def load_wildguard_benign(root: Path) -> list[Example]:
    """WildGuardMix's benign prompts (``label`` 0), many on sensitive topics, benign lookalikes."""
    rel = source_file("wildguard_benign")
    prompts: list[str] = []
    for record in read_json(root, rel):
        if record["label"] != 0:
            raise ValueError(f"{rel}: unexpected label {record['label']!r}")
        prompts.append(record["prompt"])
    return examples(prompts, "benign_lookalike", "wildguard_benign")


def load_awesome_chatgpt_prompts(root: Path) -> list[Example]:
    """awesome-chatgpt-prompts' role-play and persona prompts ("act as a Linux terminal"):
    the shape of a jailbreak without its intent, benign lookalikes.

    The few that are jailbreaks themselves (`is_jailbreak_roleplay`) are left out rather than
    labelled: the collection is not a curated source of attacks, and the catalogue has
    those.
    """
    rel = source_file("awesome_chatgpt_prompts")
    prompts = column(csv_dicts(root, rel), "prompt", rel)
    kept = (p for p in prompts if not is_jailbreak_roleplay(p))
    return examples(kept, "benign_lookalike", "awesome_chatgpt_prompts")
