"""Judge calibration against the fitted scale: bins, confidence levels, anchors, hard outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import norm

from cjgrade.errors import InputError
from cjgrade.stats.calibration import assess_judge_calibration

THETA = np.array([0.0, 1.0, 2.0, -1.0])
SE = np.array([0.3, 0.4, 0.0, 0.0])
RANK = np.array([-1, 2, 3, 1])  # essay 0 is a student; 1..3 anchors of grade ranks 2, 3, 1
A = [0, 2, 1, 0, 3, 1]
B = [1, 3, 2, 3, 0, 3]
P_A = [0.3, 0.95, 0.62, 0.5, 0.0, 0.55]
CONF = [2, 5, 1, np.nan, np.nan, 1]


def cal():  # type: ignore[no-untyped-def]
    return assess_judge_calibration(A, B, P_A, THETA, SE, confidence=CONF, anchor_rank=RANK)


def test_bins_by_hand() -> None:
    """Six comparisons worked by hand: which essay was chosen, whether the scale agrees, what
    it expects (Phi of the difference over the combined SE), and the anchors' order."""
    bins = {c.label: c for c in cal().bins}
    assert list(bins) == ["[0.5, 0.6)", "[0.6, 0.7)", "[0.7, 0.8)", "[0.8, 0.9)", "[0.9, 1.0]"]
    low = bins["[0.5, 0.6)"]  # essay 1 over 3: agrees, anchors agree
    assert (low.n, low.mean_stated, low.observed_agreement) == (1, 0.55, 1.0)
    assert low.predicted_agreement == pytest.approx(norm.cdf(2 / 0.4))
    assert (low.anchor_pairs, low.anchor_agreement) == (1, 1.0)
    wrong = bins["[0.6, 0.7)"]  # essay 1 chosen over 2: the scale disagrees, so do the anchors
    assert (wrong.n, wrong.observed_agreement, wrong.anchor_agreement) == (1, 0.0, 0.0)
    assert wrong.predicted_agreement == pytest.approx(norm.cdf(-2.5))
    b_side = bins["[0.7, 0.8)"]  # p_a 0.3: B (essay 1) chosen with 0.7 over a student
    assert b_side.mean_stated == pytest.approx(0.7) and b_side.observed_agreement == 1.0
    assert b_side.predicted_agreement == pytest.approx(norm.cdf(2.0))
    assert (b_side.anchor_pairs, b_side.anchor_agreement) == (0, None)
    assert bins["[0.8, 0.9)"].n == 0 and bins["[0.8, 0.9)"].mean_stated is None
    top = bins["[0.9, 1.0]"]  # 0.95 (zero SEs: a step) and a hard 0 (B chosen, p 1.0)
    assert top.n == 2 and top.mean_stated == pytest.approx(0.975)
    assert top.predicted_agreement == pytest.approx((1.0 + norm.cdf(1 / 0.3)) / 2)
    assert (top.anchor_pairs, top.anchor_agreement) == (1, 1.0)


def test_overall_undecided_and_calibration_error() -> None:
    """p_a = 0.5 is left out; the calibration error is the n-weighted gap over the bins."""
    res = cal()
    assert res.n_undecided == 1 and res.overall.n == 5
    assert res.overall.observed_agreement == pytest.approx(4 / 5)
    assert res.overall.anchor_pairs == 3
    assert res.calibration_error == pytest.approx((0.45 + 0.62 + 0.30 + 2 * 0.025) / 5)
    assert not res.hard_outcomes


def test_confidence_levels() -> None:
    """Comparisons grouped by stated level 1-5; those without a level are in no level."""
    levels = {c.level: c for c in cal().levels}
    assert list(levels) == [1, 2, 3, 4, 5]
    assert levels[1].n == 2 and levels[1].observed_agreement == 0.5
    assert levels[1].mean_stated == pytest.approx((0.62 + 0.55) / 2)
    assert levels[2].n == 1 and levels[5].n == 1
    assert levels[3].n == levels[4].n == 0 and levels[3].observed_agreement is None
    assert sum(c.n for c in levels.values()) == 4  # the hard verdict stated no level


def test_no_confidence_means_no_levels() -> None:
    """Without any stated level (None or all NaN) the level table is empty."""
    assert assess_judge_calibration(A, B, P_A, THETA, SE).levels == ()
    none = assess_judge_calibration(A, B, P_A, THETA, SE, confidence=[np.nan] * 6)
    assert none.levels == ()


def test_hard_outcomes_give_a_single_bin() -> None:
    """A judge with p_a 0 or 1 only: every comparison in [0.9, 1.0], stated 1, a single bin."""
    res = assess_judge_calibration([0, 1, 2], [1, 2, 3], [1.0, 0.0, 1.0], THETA, SE)
    filled = [c for c in res.bins if c.n]
    assert len(filled) == 1 and filled[0].label == "[0.9, 1.0]"
    assert filled[0].mean_stated == 1.0 and res.hard_outcomes
    # chosen: essay 0 over 1 (no), essay 2 over 1 (yes), essay 2 over 3 (yes)
    assert filled[0].observed_agreement == pytest.approx(2 / 3)


def test_equal_abilities_count_one_half() -> None:
    """A verdict between two essays of equal theta agrees one half; expected 0.5."""
    res = assess_judge_calibration([0], [1], [0.8], [0.5, 0.5], [0.2, 0.2])
    assert res.overall.observed_agreement == 0.5
    assert res.overall.predicted_agreement == pytest.approx(0.5)


def test_no_decided_comparison() -> None:
    """Only undecided verdicts: every cell empty, no calibration error, not hard."""
    res = assess_judge_calibration([0], [1], [0.5], [0.0, 1.0], [0.1, 0.1])
    assert res.overall.n == 0 and res.calibration_error is None and not res.hard_outcomes


def test_a_calibrated_judge_sits_on_the_diagonal() -> None:
    """A judge that picks the truly better essay with exactly its stated probability, scored
    against the true abilities: observed agreement matches the stated probability in every
    bin (within 0.02 over 40,000 comparisons)."""
    rng = np.random.default_rng(20240611)
    theta = rng.normal(0.0, 1.5, 300)
    a = rng.integers(0, 300, 40_000)
    b = (a + rng.integers(1, 300, a.size)) % 300
    p_true = expit(theta[a] - theta[b])
    a_wins = rng.random(a.size) < p_true
    # the judge states its true probability for the side it picked
    p_a = np.where(a_wins, np.maximum(p_true, 1 - p_true), np.minimum(p_true, 1 - p_true))
    res = assess_judge_calibration(a, b, p_a, theta, np.full(300, 1e-9))
    for c in res.bins:
        assert c.n > 1000
        assert c.observed_agreement == pytest.approx(c.mean_stated, abs=0.02)
    assert res.calibration_error is not None and res.calibration_error < 0.01


def test_an_overconfident_judge_sits_below_the_diagonal() -> None:
    """A coin-flipping judge that always states 0.95 agrees with the true scale half the
    time: observed about 0.5 in the top bin, calibration error about 0.45."""
    rng = np.random.default_rng(7)
    theta = rng.normal(0.0, 1.0, 100)
    a = rng.integers(0, 100, 5_000)
    b = (a + rng.integers(1, 100, a.size)) % 100
    p_a = np.where(rng.random(a.size) < 0.5, 0.95, 0.05)
    res = assess_judge_calibration(a, b, p_a, theta, np.full(100, 1e-9))
    assert res.bins[-1].observed_agreement == pytest.approx(0.5, abs=0.03)
    assert res.calibration_error == pytest.approx(0.45, abs=0.03)


def test_bad_inputs_raise() -> None:
    """Out-of-range p_a or indices, mismatched lengths and bad bin edges are InputError."""
    with pytest.raises(InputError):
        assess_judge_calibration([0], [1], [1.2], THETA, SE)
    with pytest.raises(InputError):
        assess_judge_calibration([0], [9], [0.7], THETA, SE)
    with pytest.raises(InputError):
        assess_judge_calibration([0, 1], [1], [0.7, 0.7], THETA, SE)
    with pytest.raises(InputError):
        assess_judge_calibration([0], [1], [0.7], THETA, SE[:2])
    with pytest.raises(InputError):
        assess_judge_calibration([0], [1], [0.7], THETA, SE, bin_edges=(0.4, 1.0))
    with pytest.raises(InputError):
        assess_judge_calibration([0], [1], [0.7], THETA, SE, anchor_rank=[1, 2])
