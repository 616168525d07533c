"""consumer.training.datasets.benign: each benign source's loader on its synthetic files, the
NLTK corpora detokenised and cut into paragraphs (consumer.training.datasets.text)."""

from __future__ import annotations

from pathlib import Path

from consumer.training import datasets as ds
from tests.unit.training.datasets_files import LONG_PARAGRAPH, LONG_REVIEW_LINES


def test_routing_sources_are_benign_prompts(data_root: Path) -> None:
    banking = ds.load_banking77(data_root)
    assert [e.text for e in banking] == [
        "Where is my card? (train)",
        "Top up failed",
        "Where is my card? (test)",
        "Top up failed",
    ]
    clinc = ds.load_clinc150(data_root)
    assert [e.text for e in clinc] == [
        "what is the weather like",
        "set an alarm for six",
        "how do i say hello in french",
        "a show on broadway",
        "who has the best record in the nfl",
    ]
    for example in banking + clinc:
        assert (example.label, example.category) == ("benign", "benign_prompt")


def test_sgd_keeps_only_user_turns(data_root: Path) -> None:
    texts = [e.text for e in ds.load_sgd_dialogues(data_root)]
    assert "At what time?" not in texts
    assert texts[:2] == ["Book a table for 1.", "Half past 11."]
    assert len(texts) == 8
    assert {e.category for e in ds.load_sgd_dialogues(data_root)} == {"benign_prompt"}


def test_sms_reads_without_quoting_and_leaves_spam_out_by_default(data_root: Path) -> None:
    ham = ds.load_sms_spam(data_root)
    assert [e.text for e in ham] == ['I said "see you at 8" lol', "Ok lar... Joking wif u oni..."]
    assert {(e.label, e.category) for e in ham} == {("benign", "benign_prose")}
    with_spam = ds.load_sms_spam(data_root, include_spam=True)
    spam = [e for e in with_spam if e.category == "spam"]
    assert [e.text for e in spam] == ["WINNER!! Claim your free prize now"]
    assert spam[0].label == "malicious"


def test_benign_text_files(data_root: Path) -> None:
    assert [e.text for e in ds.load_goemotions(data_root)] == [
        'My favourite "food" is pizza.',
        "WHY IS [NAME] LIKE THIS",
    ]
    assert [e.text for e in ds.load_wiki_sents(data_root)] == [
        "in the 1960s it introduced a timetable"
    ]
    queries = ds.load_query_wellformedness(data_root)
    assert [(e.text, e.category) for e in queries] == [
        ("What are Mia Hamms accomplishment ?", "benign_prompt")
    ]
    frr = ds.load_cyberseceval_mitre_frr(data_root)
    assert [(e.label, e.category) for e in frr] == [("benign", "benign_prompt")]


def test_nltk_short_corpora_are_detokenised_prose(data_root: Path) -> None:
    assert [e.text for e in ds.load_nltk_sentence_polarity(data_root)] == [
        "simplistic, silly and tedious.",
        "it's a charming (and often funny) film.",
    ]
    assert [e.text for e in ds.load_nltk_subjectivity(data_root)] == [
        "the movie begins in the past.",
        "a smart, funny look.",
    ]
    assert [e.text for e in ds.load_nltk_product_reviews(data_root)] == [
        "i recently purchased the canon g3.",
        "great job canon!",
        "the battery dies fast.",
    ]
    assert [e.text for e in ds.load_nltk_pros_cons(data_root)] == [
        "Eats batteries",
        "Easy to use, economical!",
    ]
    for loader in (
        ds.load_nltk_sentence_polarity,
        ds.load_nltk_subjectivity,
        ds.load_nltk_product_reviews,
        ds.load_nltk_pros_cons,
        ds.load_nltk_movie_reviews,
        ds.load_nltk_state_union,
    ):
        assert {(e.label, e.category) for e in loader(data_root)} == {("benign", "benign_prose")}


def test_movie_reviews_are_cut_into_paragraphs(data_root: Path) -> None:
    examples = ds.load_nltk_movie_reviews(data_root)
    assert len(examples) > 3
    assert all(len(e.text) <= 500 for e in examples)
    assert examples[0].text.startswith("this is sentence number 0 of a long review, it's fine.")
    assert examples[-1].text == "a short and sweet review."
    joined = " ".join(e.text for e in examples[:-1])
    assert joined.count("of a long review") == len(LONG_REVIEW_LINES)


def test_state_union_decodes_legacy_bytes_and_chunks_long_paragraphs(data_root: Path) -> None:
    texts = [e.text for e in ds.load_nltk_state_union(data_root)]
    assert "This will require cancellation of the ½¢ decrease." in texts
    assert "Twenty-five years ago I sat here—not as President." in [t.strip() for t in texts]
    long_chunks = [t for t in texts if t.startswith("Sentence")]
    assert len(long_chunks) >= 3
    assert all(len(t) <= ds.MAX_CHUNK_CHARS for t in long_chunks)
    assert all(t.endswith(".") for t in long_chunks)  # cut on sentence boundaries
    assert " ".join(long_chunks) == LONG_PARAGRAPH
    assert not any("Corpus" in t for t in texts)  # README left out
