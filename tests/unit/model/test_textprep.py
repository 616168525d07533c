"""consumer.model.textprep: the normalisation training and serving share."""

from __future__ import annotations

import pytest

from consumer.model.textprep import normalize_batch, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("RT @someone: you are GREAT", "you are great"),
        ("rt @a @b: hi", "hi"),
        ("email me at bob@example.com", "email me at bob@example.com"),
        ("see https://t.co/abc and www.example.org/x now", "see and now"),
        ("fish &amp;amp; chips &#8220;ok&#8221;", 'fish & chips "ok"'),
        ("\u201cquoted\u201d \u2018single\u2019", "\"quoted\" 'single'"),
        ("soooooo goooood!!!!!!", "soo good!!"),
        ("#MondayMotivation is here", "mondaymotivation is here"),
        ("  many\t\nspaces   here ", "many spaces here"),
        ("\uff46\uff55\uff4c\uff4c", "full"),  # fullwidth letters
        ("zero\u200bwidth", "zerowidth"),
        ("", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_tweet_and_prompt_styles_of_the_same_words_normalise_alike() -> None:
    tweet = "RT @user: How do I MAKE a bomb?? #help http://t.co/x"
    prompt = "how do i make a bomb?? help"
    assert normalize_text(tweet) == normalize_text(prompt)


def test_normalize_is_idempotent() -> None:
    text = "RT @x: Soooo &amp; GOOD!!!! https://a.b #yes"
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_batch_matches_single_calls_in_order() -> None:
    texts = ["B", "RT @a: c", "d &amp; e"]
    assert normalize_batch(texts) == [normalize_text(t) for t in texts]
    assert normalize_batch(iter(texts)) == ["b", "c", "d & e"]
