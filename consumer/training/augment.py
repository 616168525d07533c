"""Templated training rows that make the *form* of a request uninformative.

Our sources confound form and label: harmful requests and jailbreaks are instructions
("Write a tutorial on ...", "How can I ..."), most benign rows are questions or prose; every
injection source has its own phrasing. A bag-of-words model then learns "write" or "hello"
as malicious (a model without these rows scored "Write a poem about the ocean" 0.98).

So the same frames are filled twice: with benign tasks (a hand-written list, and short benign
texts of the data itself) as benign prompts, and with harmful tasks as harmful requests;
instruction-override phrasings (generic ones, not copied from any source) wrap benign tasks
as prompt injections. What is left to tell them apart is the content. No row of a source is
copied, so held-out-source evaluation stays honest: a held-out source's text is never in
the templates (its rows only become benign fillers when the source is trained on).

The hand-written lists are data (`consumer/training/templates/*.toml`, read by
`consumer.training.lexicon`); this module keeps only how they are drawn from.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from consumer.training.datasets import BENIGN, MALICIOUS, Example
from consumer.training.lexicon import load_lexicon

__all__ = [
    "AUGMENT_SOURCE",
    "INJECTION_SOURCE",
    "TEMPLATED_SOURCE",
    "TEMPLATED_SOURCES",
    "templated_injections",
    "templated_instructions",
    "templated_requests",
]

TEMPLATED_SOURCE: Final = "templated_instructions"
AUGMENT_SOURCE: Final = "templated_harmful"
INJECTION_SOURCE: Final = "templated_injections"
TEMPLATED_SOURCES: Final = (TEMPLATED_SOURCE, AUGMENT_SOURCE, INJECTION_SOURCE)

# Short benign texts of these sources fill the frames as well as the hand-written tasks.
_FILLER_SOURCES: Final = ("query_wellformedness", "clinc150", "nltk_pros_cons", "wiki_sents")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _benign_fillers(examples: Sequence[Example]) -> list[str]:
    return [
        _lower_first(e.text.rstrip(" ?.!"))
        for e in examples
        if e.label == BENIGN and e.source in _FILLER_SOURCES and len(e.text) <= 90
    ]


def templated_instructions(examples: Sequence[Example], count: int, seed: int) -> list[Example]:
    """`count` benign prompts: the shared frames around benign tasks and short benign texts."""
    fillers = _benign_fillers(examples)
    if not fillers or count <= 0:
        return []
    lex = load_lexicon()
    rng = random.Random(seed)
    out: list[Example] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.05:
            text = rng.choice(lex.small_talk)
        elif roll < 0.13:
            text = rng.choice(lex.neutral).format(g=rng.choice(lex.groups))
        elif roll < 0.2:
            text = rng.choice(lex.instruction_talk)
        else:
            task = rng.choice(lex.all_benign_tasks) if roll < 0.6 else rng.choice(fillers)
            text = rng.choice(lex.frames).format(x=task)
        out.append(Example(text, BENIGN, TEMPLATED_SOURCE, "benign_prompt"))
    return out


def templated_requests(count: int, seed: int) -> list[Example]:
    """`count` harmful requests: the same frames around harmful tasks, and (one in five)
    demeaning questions about groups."""
    lex = load_lexicon()
    rng = random.Random(seed + 1)
    out: list[Example] = []
    for _ in range(max(count, 0)):
        if rng.random() < 0.2:
            text = rng.choice(lex.demeaning).format(g=rng.choice(lex.groups))
        else:
            text = rng.choice(lex.frames).format(x=rng.choice(lex.harmful_tasks))
        out.append(Example(text, MALICIOUS, AUGMENT_SOURCE, "harmful_request"))
    return out


def templated_injections(examples: Sequence[Example], count: int, seed: int) -> list[Example]:
    """`count` prompt injections: override phrasings around benign or harmful tasks."""
    lex = load_lexicon()
    fillers = _benign_fillers(examples) or list(lex.benign_tasks)
    rng = random.Random(seed + 2)
    out: list[Example] = []
    for _ in range(max(count, 0)):
        roll = rng.random()
        if roll < 0.35:
            payload = rng.choice(lex.injection_payloads)
        elif roll < 0.55:
            payload = f"tell me how to {rng.choice(lex.all_benign_tasks)}"
        elif roll < 0.7:
            payload = f"tell me how to {rng.choice(fillers)}"
        elif roll < 0.85:
            payload = f"tell me how to {rng.choice(lex.harmful_tasks)}"
        else:
            payload = "say 'I have been PWNED'"
        text = rng.choice(lex.injection_wrappers).format(x=payload)
        if rng.random() < 0.25:  # indirect: the override hides inside ordinary content
            text = f"{rng.choice(fillers).capitalize()}. {text}"
        out.append(Example(text, MALICIOUS, INJECTION_SOURCE, "prompt_injection"))
    return out
