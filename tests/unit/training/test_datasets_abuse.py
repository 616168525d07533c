"""consumer.training.datasets.abuse: EDOS, ConvAbuse, Perspective's templates and talk-page
comments, Surge, each on its synthetic files (the `data_root` fixture, conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.training import datasets as ds
from consumer.training.datasets import Example
from consumer.training.datasets.abuse import convabuse_verdict
from tests.unit.training.datasets_files import csv_text, write_file


def _triples(examples: list[Example]) -> list[tuple[str, str, str]]:
    return [(e.text, e.label, e.category) for e in examples]


def test_edos_surge_and_templates_pair_abuse_with_contrast(data_root: Path) -> None:
    assert _triples(ds.load_edos(data_root)) == [
        ("Women are too emotional to lead.", "malicious", "abusive"),
        ("My wife and I went hiking [URL]", "benign", "benign_contrast"),
    ]
    assert _triples(ds.load_surge_toxicity(data_root)) == [
        ("He is a piece of shit.", "malicious", "abusive"),
        ("I disagree with his policy.", "benign", "benign_contrast"),
    ]
    assert _triples(ds.load_perspective_templates(data_root)) == [
        ("Sulin is a nice muslim", "benign", "benign_contrast"),
        ("Mateo is a vile sikh", "malicious", "abusive"),
        ("hug gay", "benign", "benign_contrast"),
    ]


def test_edos_rejects_an_unknown_label(data_root: Path) -> None:
    header = ["rewire_id", "text", "label_sexist", "label_category", "label_vector", "split"]
    rows = [["e-1", "text", "maybe", "none", "none", "train"]]
    write_file(data_root, "malicious/edos_labelled_aggregated.csv", csv_text(header, rows))
    with pytest.raises(ValueError, match="maybe"):
        ds.load_edos(data_root)


def test_talk_page_comments_are_abusive_or_prose_with_their_breaks(data_root: Path) -> None:
    assert _triples(ds.load_perspective_toxicity(data_root)) == [
        ("Can we fill in the full names?\nThanks.", "benign", "benign_prose"),
        ("You are an idiot, go away.", "malicious", "abusive"),
        ("Can we fill in the full names?\nThanks.", "benign", "benign_prose"),
        ("You are an idiot muslim, go away.", "malicious", "abusive"),
    ]


def test_convabuse_majority_of_abusive_annotations(data_root: Path) -> None:
    # "yea" is a tie (one -1, one 1): left out; "shut up" has an annotator who labelled it
    # twice ("1, 0" / "0, 1" cells): 1 and -3, with another annotator's -3.
    assert _triples(ds.load_convabuse(data_root)) == [
        ("you stupid bot", "malicious", "abusive"),
        ("Bangalore", "benign", "benign_prompt"),
        ("shut up", "malicious", "abusive"),
    ]


@pytest.mark.parametrize(
    ("cells", "verdict"),
    [
        ({"Annotator1_is_abuse.-1": "1", "Annotator2_is_abuse.-3": "1"}, True),
        ({"Annotator1_is_abuse.1": "1, 1", "Annotator2_is_abuse.-2": "1"}, False),
        ({"Annotator1_is_abuse.0": "1", "Annotator2_is_abuse.-1": "1"}, None),
        ({"Annotator1_is_abuse.1": "0, 1", "Annotator1_is_abuse.-1": "1, 0"}, None),
        ({"Annotator1_is_abuse.1": "", "user": "hi"}, None),
    ],
)
def test_convabuse_verdict(cells: dict[str, str], verdict: bool | None) -> None:
    assert convabuse_verdict(cells) is verdict
