"""Policies per source (`consumer.model.policies`): the file is validated whole, with errors
that name the line; a policy's thresholds replace the model's."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.model.classifier import Policy, Thresholds
from consumer.model.policies import (
    DEFAULT_POLICY,
    MODEL_POLICY,
    PolicyFileError,
    load_policies,
)

GOOD = """\
# Thresholds per source.
[default]
review_threshold = 0.3

[sources."kids-chat"]
threshold = 0.35
review_threshold = 0.1
block_threshold = 0.5

[sources.internal]
block_threshold = 0.99
"""

MODEL = Policy(positive_label="malicious", threshold=0.5, review_threshold=0.2, block_threshold=0.7)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policies.toml"
    path.write_text(text)
    return path


def test_a_valid_file_gives_each_source_its_thresholds_over_the_model(tmp_path: Path) -> None:
    policies = load_policies(write(tmp_path, GOOD))
    assert policies.names() == ["internal", "kids-chat", DEFAULT_POLICY]
    assert policies.choose("kids-chat") == "kids-chat"
    assert policies.choose("elsewhere") == DEFAULT_POLICY
    assert policies.choose(None) == DEFAULT_POLICY
    kids = policies.resolve("kids-chat", MODEL)
    assert (kids.threshold, kids.review_threshold, kids.block_threshold) == (0.35, 0.1, 0.5)
    internal = policies.resolve("internal", MODEL)
    assert (internal.threshold, internal.review_threshold, internal.block_threshold) == (
        0.5,
        0.2,
        0.99,
    )
    assert policies.resolve(DEFAULT_POLICY, MODEL).review_threshold == 0.3
    assert policies.resolve(MODEL_POLICY, MODEL) is MODEL
    assert internal.positive_label == "malicious"


def test_without_a_default_unlisted_sources_keep_the_models_policy(tmp_path: Path) -> None:
    policies = load_policies(write(tmp_path, "[sources.a]\nthreshold = 0.6\n"))
    assert policies.choose("b") == MODEL_POLICY
    assert policies.names() == ["a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("block_threshold = 0.5", "block_threshold = 1.5"),
            ":8: [sources.kids-chat] block_threshold = 1.5 is not in [0, 1]",
        ),
        (
            GOOD.replace("review_threshold = 0.1", "review_threshold = 0.6"),
            ":7: [sources.kids-chat] review_threshold 0.6 is above block_threshold 0.5",
        ),
        (
            GOOD.replace("block_threshold = 0.99", "blok_threshold = 0.99"),
            ":11: [sources.internal] has an unknown key 'blok_threshold'",
        ),
        (
            GOOD.replace("threshold = 0.35", 'threshold = "high"'),
            ":6: [sources.kids-chat] threshold must be a number",
        ),
        (GOOD + "\n[tenants.x]\nthreshold = 0.1\n", ":13: unknown table or key 'tenants'"),
        (GOOD.replace("[sources.internal]", "[sources.internal"), "line 10"),
        (
            GOOD.replace("review_threshold = 0.3", "review_threshold = true"),
            ":3: [default] review_threshold must be a number",
        ),
    ],
)
def test_an_invalid_file_is_refused_naming_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(PolicyFileError) as caught:
        load_policies(write(tmp_path, text))
    assert message in str(caught.value)
    assert str(tmp_path / "policies.toml") in str(caught.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="cannot read it"):
        load_policies(tmp_path / "absent.toml")


CATEGORISED = """\
[sources."kids-chat"]
threshold = 0.35

[sources."kids-chat".categories.hate_harassment]
threshold = 0.1
block_threshold = 0.4

[sources.internal.categories.prompt_injection]
review_threshold = 0.05
"""


def test_a_policy_sets_thresholds_per_category_over_its_own_and_the_models(
    tmp_path: Path,
) -> None:
    model = Policy(
        "malicious",
        0.5,
        0.2,
        0.7,
        categories={"prompt_injection": Thresholds(threshold=0.3, block_threshold=0.6)},
    )
    policies = load_policies(write(tmp_path, CATEGORISED))
    assert policies.categories() == {"hate_harassment", "prompt_injection"}
    kids = policies.resolve("kids-chat", model)
    # The policy's own threshold replaces the model's per-category one; its per-category
    # table replaces both.
    assert kids.for_category("prompt_injection") == Policy("malicious", 0.35, 0.2, 0.6)
    assert kids.for_category("hate_harassment") == Policy("malicious", 0.1, 0.2, 0.4)
    assert kids.for_category("harmful_request") == Policy("malicious", 0.35, 0.2, 0.7)
    internal = policies.resolve("internal", model)
    assert internal.for_category("prompt_injection") == Policy("malicious", 0.3, 0.05, 0.6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[default.categories.spam]\nthreshold = 2\n",
            r":2: \[default.categories.spam\] threshold",
        ),
        ("[default.categories.spam]\nnope = 0.1\n", r":2: .*unknown key 'nope'"),
        ("[default]\ncategories = 3\n", r":2: \[default\] categories must be a table"),
        (
            "[default.categories.spam.categories.x]\nthreshold = 0.1\n",
            r"unknown key 'categories'",
        ),
    ],
)
def test_a_bad_category_table_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PolicyFileError, match=message):
        load_policies(write(tmp_path, text))
