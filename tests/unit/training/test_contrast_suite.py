"""The contrast suite (`consumer.training.contrast`): the same cases every time, every
functionality present, nothing shared with the training templates, and targets that can fail."""

from __future__ import annotations

import tomllib
from collections import Counter
from importlib.resources import files

import pytest

from consumer.training.contrast import (
    FUNCTIONALITIES,
    SuiteCase,
    contrast_suite,
    evaluate_suite,
    score_suite,
    suite_lines,
)
from consumer.training.datasets.examples import BENIGN, MALICIOUS


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_the_suite_is_the_same_every_time_and_has_every_functionality() -> None:
    cases = contrast_suite()
    assert cases == contrast_suite()
    counts = Counter(case.functionality for case in cases)
    assert set(counts) == {f.name for f in FUNCTIONALITIES}
    assert min(counts.values()) >= 10
    assert len({case.text for case in cases}) == len(cases)  # no case twice
    assert contrast_suite(seed=1) != cases  # the seed draws the quotes and injections


def test_obfuscated_hate_misspells_only_the_charged_words() -> None:
    cases = contrast_suite()
    by = {f: [c.text for c in cases if c.functionality == f] for f in ("hate_plain", "hate_leet")}
    spaced = [c.text for c in cases if c.functionality == "hate_spaced"]
    dropped = [c.text for c in cases if c.functionality == "hate_dropped"]
    for plain, leet, space, drop in zip(
        by["hate_plain"], by["hate_leet"], spaced, dropped, strict=True
    ):
        assert plain != leet and plain.split()[0] == leet.split()[0]  # the group stays
        assert len(space) > len(plain) and len(drop) < len(plain)
    assert "v3rm1n" in by["hate_leet"][0]


def test_counter_speech_quotes_a_hateful_statement_of_the_suite() -> None:
    cases = contrast_suite()
    hate = {c.text for c in cases if c.functionality == "hate_plain"}
    quoting = [c.text for c in cases if c.functionality == "counter_speech"]
    assert all(any(f'"{h}"' in text for h in hate) for text in quoting)


def test_injected_documents_hold_a_clean_document_and_an_injection() -> None:
    cases = contrast_suite()
    clean = [c.text for c in cases if c.functionality == "document_clean"]
    injected = [c.text for c in cases if c.functionality == "document_injected"]
    assert len(injected) == 3 * len(clean)
    for i, text in enumerate(injected):
        document = clean[i // 3]
        assert text != document
        assert set(document.split("\n")) <= set(text.split("\n"))


def test_the_suite_shares_no_sentence_with_the_training_templates() -> None:
    training: set[str] = set()
    for path in (files("consumer.training") / "templates").iterdir():
        if path.name.endswith(".toml"):
            training.update(s.strip().lower() for s in _strings(tomllib.loads(path.read_text())))
    suite = tomllib.loads((files("consumer.training.contrast") / "suite.toml").read_text())
    ours = {s.strip().lower() for s in _strings(suite)}
    shared = {s for s in ours & training if len(s.split()) > 2}  # group names may repeat
    assert not shared
    texts = [case.text.lower() for case in contrast_suite()]
    phrases = [t for t in training if len(t.split()) >= 4 and "{" not in t]
    assert not [p for p in phrases if any(p in text for text in texts)]


def test_targets_are_met_or_not_by_what_is_flagged() -> None:
    cases = contrast_suite()
    every = {r.functionality: r for r in score_suite(cases, [True] * len(cases))}
    assert every["identity_positive"].met is False and every["identity_positive"].rate == 1.0
    assert every["hate_leet"].met is True and every["hate_plain"].met is True
    right = {
        r.functionality: r
        for r in evaluate_suite(lambda texts: [c.label == MALICIOUS for c in cases], cases)
    }
    assert all(r.met is not False for r in right.values())
    assert right["counter_speech"].flagged == 0
    # Obfuscated hate found far less often than plain hate misses its target.
    flags = [c.label == MALICIOUS and c.functionality != "hate_spaced" for c in cases]
    spaced = {r.functionality: r for r in score_suite(cases, flags)}["hate_spaced"]
    assert spaced.rate == 0.0 and spaced.met is False
    lines = "\n".join(suite_lines(score_suite(cases, flags)))
    assert "| hate_spaced | malicious |" in lines and "**no**" in lines


def test_a_case_s_label_is_its_functionality_s() -> None:
    assert SuiteCase("x", "negated_hate").label == BENIGN
    assert SuiteCase("x", "document_injected").label == MALICIOUS
    with pytest.raises(ValueError, match="2 cases but 1 flags"):
        score_suite([SuiteCase("a", "hate_plain"), SuiteCase("b", "hate_plain")], [True])
