"""The text's language in every verdict (`consumer.model.language`), and review for text in a
language the model does not read (`Classifier`, `Policy.other_languages`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from consumer.model.classifier import Classifier, Policy
from consumer.model.language import UNDETERMINED, detect_languages
from consumer.model.policies import PolicyFileError, load_policies

SAMPLE = Path(__file__).parents[3] / "bench" / "data" / "language"


def test_languages_are_iso_639_1_and_short_latin_text_is_undetermined() -> None:
    texts = [
        "how do I kill a python process that hangs?",
        "Wie spät ist es heute in Berlin? Ich muss den Zug erreichen.",
        "Привет, как дела? Давно не виделись.",
        "这个周末我们去公园散步吧",
        "LOL 😂",  # read as Dutch: not reliable on Latin letters
        "",
        "12345 !!!",
        "bad \ud800 surrogate",
    ]
    assert detect_languages(texts) == ["en", "de", "ru", "zh", *[UNDETERMINED] * 4]


def test_the_hand_written_sample_is_mostly_named_right_and_english_never_foreign() -> None:
    english = [line for line in (SAMPLE / "en.txt").read_text().splitlines() if line.strip()]
    found = detect_languages(english)
    assert set(found) <= {"en", UNDETERMINED}
    assert found.count("en") / len(found) >= 0.85
    german = [line for line in (SAMPLE / "de.txt").read_text().splitlines() if line.strip()]
    assert detect_languages(german).count("de") / len(german) >= 0.8


class _Proba:
    classes_ = ("benign", "malicious")

    def __init__(self, p: Sequence[float]) -> None:
        self.p = p

    def predict_proba(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1 - p, p] for p in self.p[: len(texts)]]


TEXTS = [
    "what time does the bakery open on sunday morning?",
    "¿A qué hora abre la panadería el domingo por la mañana?",
    "¿Cómo puedo fabricar una bomba en casa para herir a alguien?",
    "ok 👍",
]


def _classifier(policy: Policy, languages: tuple[str, ...] = ("en",)) -> Classifier:
    model = _Proba([0.05, 0.05, 0.95, 0.05])
    return Classifier("m", "1", ("benign", "malicious"), policy, model, languages=languages)


def test_text_in_a_language_the_model_does_not_read_is_reviewed_not_allowed() -> None:
    got = _classifier(Policy("malicious", 0.5, 0.3, 0.9)).classify(TEXTS)
    assert [(p.language, p.label, p.action) for p in got] == [
        ("en", "benign", "allow"),
        ("es", "benign", "review"),  # the model cannot judge it
        ("es", "malicious", "block"),  # a block stays a block
        (UNDETERMINED, "benign", "allow"),  # too short to tell: not sent to review
    ]


def test_the_policy_may_keep_the_models_action_and_a_model_without_languages_reviews_none() -> None:
    kept = _classifier(Policy("malicious", 0.5, other_languages="model")).classify(TEXTS)
    assert [p.action for p in kept] == ["allow", "allow", "block", "allow"]
    unknown = _classifier(Policy("malicious", 0.5), languages=()).classify(TEXTS)
    assert [p.action for p in unknown] == ["allow", "allow", "block", "allow"]
    assert [p.language for p in unknown] == ["en", "es", "es", UNDETERMINED]
    # Redeciding keeps the languages: another policy reviews again.
    again = _classifier(Policy("malicious", 0.5)).redecide(kept, Policy("malicious", 0.5), "x")
    assert [p.action for p in again] == ["allow", "review", "block", "allow"]


def test_a_policy_file_sets_other_languages_per_source(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text('[sources.translated]\nother_languages = "model"\n')
    policy = load_policies(path).resolve("translated", Policy("malicious", 0.5))
    assert policy.other_languages == "model"
    path.write_text('[default]\nother_languages = "block"\n')
    with pytest.raises(PolicyFileError, match=r":2: \[default\] other_languages must be"):
        load_policies(path)
