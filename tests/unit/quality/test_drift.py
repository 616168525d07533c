"""Score drift: quantile baselines, the population stability index, and the time window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from consumer.quality.drift import DriftWindow, ScoreBaseline, psi


def beta_scores(a: float, b: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).beta(a, b, n)


def test_a_baseline_holds_quantile_bins_and_round_trips_through_the_manifest() -> None:
    scores = beta_scores(0.5, 3, 20_000, seed=1)
    baseline = ScoreBaseline.from_scores(scores)
    assert len(baseline.edges) == 9 and len(baseline.shares) == 10
    assert all(s == pytest.approx(0.1, abs=0.002) for s in baseline.shares)
    assert baseline.rows == 20_000
    again = ScoreBaseline.from_manifest(baseline.to_manifest())
    assert again == baseline
    assert baseline.counts(scores).sum() == 20_000


def test_scores_that_pile_up_make_fewer_wider_bins() -> None:
    scores = np.concatenate([np.full(900, 0.01), np.linspace(0.2, 1.0, 100)])
    baseline = ScoreBaseline.from_scores(scores)
    assert len(baseline.shares) < 10
    assert max(baseline.shares) >= 0.9
    assert sum(baseline.shares) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"edges": [0.2, 0.1], "shares": [0.3, 0.3, 0.4]}, "increase"),
        ({"edges": [0.2], "shares": [0.3, 0.3, 0.4]}, "one more share"),
        ({"edges": [0.2], "shares": [0.3, 0.3]}, "sum to 1"),
    ],
)
def test_a_malformed_baseline_is_refused(data: dict[str, list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScoreBaseline.from_manifest(data)


def test_psi_is_near_zero_for_the_same_population_and_large_for_a_shifted_one() -> None:
    baseline = ScoreBaseline.from_scores(beta_scores(0.5, 3, 50_000, seed=1))
    expected = np.asarray(baseline.shares)
    same = psi(expected, baseline.counts(beta_scores(0.5, 3, 5_000, seed=2)))
    shifted = psi(expected, baseline.counts(beta_scores(2, 2, 5_000, seed=3)))
    assert same < 0.02
    assert shifted > 0.25
    # Hand-computed for two bins: (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5).
    two = psi(np.array([0.5, 0.5]), np.array([80, 20]))
    assert two == pytest.approx(0.3 * math.log(1.6) - 0.3 * math.log(0.4))
    assert math.isnan(psi(expected, np.zeros(10)))
    # An empty bin is floored, not infinite.
    assert math.isfinite(psi(np.array([0.5, 0.5]), np.array([10, 0])))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_forgets_batches_older_than_its_span() -> None:
    clock = Clock()
    baseline = ScoreBaseline.from_scores(beta_scores(0.5, 3, 20_000, seed=1))
    window = DriftWindow(baseline, seconds=60, min_verdicts=100, clock=clock)
    assert math.isnan(window.state().psi)
    window.add(beta_scores(0.5, 3, 50, seed=2), {"benign": 50})
    assert math.isnan(window.state().psi)  # fewer than min_verdicts
    window.add(beta_scores(0.5, 3, 950, seed=3), {"benign": 900, "malicious": 50})
    state = window.state()
    assert state.verdicts == 1000
    assert state.label_shares == {"benign": 0.95, "malicious": 0.05}
    assert state.psi < 0.05
    clock.now += 30
    window.add(beta_scores(5, 1, 1000, seed=4), {"malicious": 1000})
    assert window.state().psi > 0.25
    clock.now += 31  # the first two batches leave the window
    state = window.state()
    assert state.verdicts == 1000
    assert state.label_shares == {"benign": 0.0, "malicious": 1.0}
    clock.now += 31
    state = window.state()
    assert state.verdicts == 0 and math.isnan(state.psi)


def test_without_a_baseline_the_window_counts_labels_only() -> None:
    window = DriftWindow(None, seconds=60, min_verdicts=1, clock=Clock())
    window.add(np.array([0.1, 0.9]), {"benign": 1, "malicious": 1})
    state = window.state()
    assert state.verdicts == 2 and math.isnan(state.psi)
    assert state.label_shares == {"benign": 0.5, "malicious": 0.5}
