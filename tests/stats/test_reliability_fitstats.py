"""Infit and outfit mean squares for items and judges."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from cjgrade.stats.fitstats import compute_fit_statistics


def test_fit_statistics_golden() -> None:
    """Two items at theta +-ln(3)/2 (p = 0.75): hand-computed infit and outfit."""
    data = PairwiseData.build(2, [0, 0, 0, 1], [1, 1, 1, 0], judge=[0, 0, 1, 1])
    theta = np.array([np.log(3) / 2, -np.log(3) / 2])
    fs = compute_fit_statistics(data, theta)
    # Residuals: three wins at p=.75 give z^2 = (.25^2)/.1875 = 1/3; the upset gives 3.
    assert fs.item_outfit == pytest.approx([(3 * (1 / 3) + 3) / 4] * 2)
    assert fs.item_infit == pytest.approx([(3 * 0.0625 + 0.5625) / (4 * 0.1875)] * 2)
    assert fs.judge_outfit == pytest.approx([1 / 3, (1 / 3 + 3) / 2])
    assert fs.judge_count == pytest.approx([2, 2])


def test_fit_statistics_near_one_under_the_model(rng: np.random.Generator) -> None:
    """Data simulated from the model give mean infit and outfit close to 1."""
    n, m = 30, 3000
    theta = rng.normal(0, 1, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    y = (rng.random(m) < expit(theta[a] - theta[b])).astype(float)
    data = PairwiseData.build(n, a, b, y, judge=rng.integers(0, 5, m))
    fs = compute_fit_statistics(data, fit_bradley_terry(data).theta)
    assert np.mean(fs.item_infit) == pytest.approx(1.0, abs=0.1)
    assert np.mean(fs.item_outfit) == pytest.approx(1.0, abs=0.15)
    assert np.all(np.abs(fs.judge_infit - 1) < 0.15)


def test_erratic_judge_has_high_infit(rng: np.random.Generator) -> None:
    """A judge who reverses most decisions stands out with infit well above 1."""
    n, m = 25, 2500
    theta = rng.normal(0, 1.5, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    judge = rng.integers(0, 5, m)
    y = (rng.random(m) < expit(theta[a] - theta[b])).astype(float)
    y[judge == 4] = 1.0 - y[judge == 4]
    data = PairwiseData.build(n, a, b, y, judge=judge)
    fs = compute_fit_statistics(data, fit_bradley_terry(data).theta)
    assert fs.judge_infit[4] > 1.5
    assert np.all(fs.judge_infit[:4] < fs.judge_infit[4])


def test_unjudged_and_uncompared_units_are_nan() -> None:
    """Items without comparisons and judges without decisions get NaN, not 0."""
    data = PairwiseData.build(3, [0, 1], [1, 0], judge=[0, 0])
    fs = compute_fit_statistics(data, np.zeros(3), n_judges=2)
    assert np.isnan(fs.item_infit[2]) and np.isnan(fs.item_outfit[2])
    assert np.isnan(fs.judge_infit[1])


def test_soft_outcomes_scored_as_the_hard_decisions_they_stand_for(
    rng: np.random.Generator,
) -> None:
    """A calibrated soft judge (y = p) has infit and outfit exactly 1; a judge reporting the
    model's probabilities backwards stands out; hard outcomes are unaffected by the rule."""
    n, m = 20, 800
    theta = rng.normal(0, 1.5, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    judge = rng.integers(0, 3, m)
    p = expit(theta[a] - theta[b])
    y = p.copy()
    y[judge == 2] = 1.0 - p[judge == 2]
    fs = compute_fit_statistics(PairwiseData.build(n, a, b, y, judge=judge), theta)
    assert fs.judge_infit[:2] == pytest.approx([1.0, 1.0])
    assert fs.judge_outfit[:2] == pytest.approx([1.0, 1.0])
    assert fs.judge_infit[2] > 1.5
    hard = (rng.random(m) < p).astype(float)
    fs_hard = compute_fit_statistics(PairwiseData.build(n, a, b, hard), theta)
    z2 = (hard - p) ** 2 / (p * (1 - p))
    first = (a == 0) | (b == 0)
    assert fs_hard.item_outfit[0] == pytest.approx(float(np.mean(z2[first])), rel=1e-12)
