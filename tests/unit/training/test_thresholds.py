"""Thresholds chosen on held-out scores (`consumer.training.thresholds`): each kind of harm
gets the threshold the targets ask for on the rows whose most probable kind it is, and the
nested report measures each half with thresholds chosen on the other half only."""

from __future__ import annotations

import numpy as np

from consumer.model.classifier import Policy
from consumer.training.thresholds import HeldOutScores, choose_held_out_policy, nested_report

KINDS = ("harmful_request", "prompt_injection")
MODEL = Policy("malicious", 0.5, 0.2, 0.7)


def _scores(seed: int, injection_benign_high: bool) -> HeldOutScores:
    """Per half: a harmful-request source scored 0.6-1.0, an injection source 0.3-1.0,
    an ordinary benign source 0-0.55 whose top kind is harmful_request, and a look-alike
    source whose top kind is prompt_injection."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, int, bool, float, str]] = []
    for half in (1, 2):
        n = 400
        rows += [
            (f"harm{half}", "harmful_request", half, True, p, "harmful_request")
            for p in rng.uniform(0.6, 1.0, n)
        ]
        rows += [
            (f"inj{half}", "prompt_injection", half, True, p, "prompt_injection")
            for p in rng.uniform(0.3, 1.0, n)
        ]
        rows += [
            (f"chat{half}", "benign_prompt", half, False, p, "harmful_request")
            for p in rng.uniform(0.0, 0.55, n)
        ]
        top = 0.35 if injection_benign_high else 0.1
        rows += [
            (f"alike{half}", "benign_lookalike", half, False, p, "prompt_injection")
            for p in rng.uniform(0.0, top, n)
        ]
    columns = list(zip(*rows, strict=True))
    return HeldOutScores(
        np.asarray(columns[0], dtype=object),
        np.asarray(columns[1], dtype=object),
        np.asarray(columns[2], dtype=np.int8),
        np.asarray(columns[3], dtype=bool),
        np.asarray(columns[4], dtype=np.float64),
        np.asarray(columns[5], dtype=object),
    )


def test_each_kind_gets_the_lowest_threshold_its_benign_rows_allow() -> None:
    policy = choose_held_out_policy(_scores(1, injection_benign_high=False), KINDS, MODEL)
    harm, injection = (policy.for_category(k) for k in KINDS)
    # Ordinary prompts reach 0.55 as harmful requests: at most 2.5 % of them may be flagged.
    assert 0.52 <= harm.threshold <= 0.56
    # Look-alikes stay under 0.1: the injection threshold may go as low as the grid does
    # while they are within their 10 % budget.
    assert injection.threshold <= 0.1
    assert harm.review_threshold is not None and harm.review_threshold <= harm.threshold
    assert harm.block_threshold is not None and harm.block_threshold >= harm.threshold
    # A kind's threshold rises with its benign rows' scores.
    higher = choose_held_out_policy(_scores(1, injection_benign_high=True), KINDS, MODEL)
    assert higher.for_category("prompt_injection").threshold > injection.threshold


def test_the_nested_report_measures_each_half_with_the_other_halfs_thresholds() -> None:
    report = nested_report(
        _scores(2, injection_benign_high=False),
        KINDS,
        MODEL,
        {"harmful_request": "harmful_request", "prompt_injection": "prompt_injection"},
    )
    assert set(report["thresholds_by_half"]) == {"half_1", "half_2"}
    figures = report["categories"]
    assert figures["harmful_request"]["measure"] == "recall"
    assert figures["harmful_request"]["mean_over_sources"] == 1.0
    assert figures["benign_prompt"]["mean_over_sources"] <= 0.05
    assert figures["benign_prompt"]["sources"] == 2
    assert report["right_category_of_flagged_malicious"] == 1.0
    assert set(report["sources"]) >= {"harm1:harmful_request", "alike2:benign_lookalike"}
