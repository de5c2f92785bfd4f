"""Anchor alignment metrics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from cjgrade.errors import InputError
from cjgrade.stats.alignment import anchor_alignment, meets_alignment_targets


def round_robin(order_by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair once; the anchor with the larger ``order_by`` wins."""
    n = order_by.size
    i, j = np.triu_indices(n, 1)
    i_wins = order_by[i] > order_by[j]
    return np.where(i_wins, i, j), np.where(i_wins, j, i)


def test_perfect_round_robin() -> None:
    """Anchors judged in grade order: tau-b 1, no inversions, only the bottom anchor wins none."""
    grades = np.array([0, 1, 2, 3, 4, 5])
    theta = np.linspace(-3, 3, 6)
    w, lo = round_robin(theta)
    res = anchor_alignment(grades, theta, w, lo)
    assert res.kendall_tau_b == pytest.approx(1.0) == res.kendall_tau_b_max
    assert res.inversion_decisions == 0 and res.n_inversion_pairs == 0
    assert res.zero_win_anchors == (0,)
    assert res.wins.tolist() == [0, 1, 2, 3, 4, 5]
    assert res.win_rate[-1] == 1.0
    assert res.fitted_rank.tolist() == [6, 5, 4, 3, 2, 1]
    assert res.n_comparisons == 15


def test_tau_b_handles_tied_grades() -> None:
    """With tied grades and a consistent order tau-b reaches its maximum (above tau-a's 0.8)."""
    grades = np.array([0, 0, 1, 1, 2, 2])
    theta = np.array([-2.0, -1.9, 0.0, 0.1, 2.0, 2.2])
    res = anchor_alignment(grades, theta, [], [])
    assert res.kendall_tau_b == pytest.approx(np.sqrt(12 / 15))
    assert res.kendall_tau_b_max == pytest.approx(res.kendall_tau_b)
    assert res.kendall_tau_b == pytest.approx(kendalltau(grades, theta, variant="b").statistic)
    assert res.expected_rank.tolist() == [5, 5, 3, 3, 1, 1]


def test_inversions_count_decisions_and_distinct_pairs() -> None:
    """A lower grade beating a higher one is an inversion; repeats add decisions, not pairs."""
    grades = np.array([0, 1, 2, 2])
    winners = [0, 0, 1, 2, 3, 2]
    losers = [1, 1, 0, 3, 2, 1]
    res = anchor_alignment(grades, [0.0, 0.1, 1.0, 1.1], winners, losers)
    assert res.inversion_decisions == 2
    assert res.inversion_pairs == ((0, 1),)
    assert res.losses.tolist() == [1, 3, 1, 1]


def test_zero_win_and_uncompared_anchors_are_distinguished() -> None:
    """An anchor that lost everything is zero-win; one never compared is uncompared, rate NaN."""
    res = anchor_alignment([0, 1, 2], [-1.0, 0.0, 1.0], [1, 1], [0, 0])
    assert res.zero_win_anchors == (0,)
    assert res.uncompared_anchors == (2,)
    assert np.isnan(res.win_rate[2])


def test_undefined_tau_is_none() -> None:
    """All anchors with one grade (or equal thetas) leave tau undefined: None, not a number."""
    assert anchor_alignment([1, 1, 1], [0.0, 1.0, 2.0], [], []).kendall_tau_b is None
    assert anchor_alignment([0, 1, 2], [1.0, 1.0, 1.0], [], []).kendall_p_value is None


@pytest.mark.parametrize(
    ("grades", "theta", "winners", "losers", "message"),
    [
        ([0], [0.0], [], [], "at least 2"),
        ([0, 1], [0.0], [], [], "theta has 1"),
        ([0, 1], [0.0, 1.0], [0], [0], "itself"),
        ([0, 1], [0.0, 1.0], [2], [0], "anchor indices"),
        ([0, 1], [0.0, 1.0], [0, 1], [1], "differ in length"),
        ([0, 1], [0.0, np.inf], [], [], "finite"),
        ([0, 1.5], [0.0, 1.0], [], [], "integers"),
    ],
)
def test_bad_input_is_rejected(
    grades: list[float], theta: list[float], winners: list[int], losers: list[int], message: str
) -> None:
    """Malformed inputs raise InputError naming the problem."""
    with pytest.raises(InputError, match=message):
        anchor_alignment(grades, theta, winners, losers)


def test_targets() -> None:
    """Targets: tau-b >= 0.9, at most one inverted pair, no zero-win anchor above the lowest
    grade (a perfect round robin, whose lowest anchor never wins, meets them)."""
    grades = np.arange(5)
    theta = np.linspace(-2, 2, 5)
    w, lo = round_robin(theta)
    perfect = anchor_alignment(grades, theta, w, lo)
    assert perfect.zero_win_anchors == (0,) and perfect.problem_zero_win_anchors == ()
    assert meets_alignment_targets(perfect)
    # anchor 1 (second-lowest grade) never wins: it lost its one win to anchor 0
    flipped = anchor_alignment(grades, theta, np.where(w == 1, 0, w), np.where(w == 1, 1, lo))
    assert flipped.problem_zero_win_anchors == (1,)
    assert not meets_alignment_targets(flipped, max_inversion_pairs=5, min_tau=-1)
    assert not meets_alignment_targets(anchor_alignment([1, 1], [0.0, 1.0], [0], [1]))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 15))
def test_relabelling_anchors_changes_nothing(seed: int, n: int) -> None:
    """Permuting anchor indices permutes per-anchor results and keeps the summary metrics."""
    rng = np.random.default_rng(seed)
    grades = rng.integers(0, 4, n)
    theta = rng.normal(0, 1, n)
    a = rng.integers(0, n, 40)
    b = (a + rng.integers(1, n, 40)) % n if n > 1 else a
    perm = rng.permutation(n)
    inv = np.argsort(perm)  # new index of old anchor k is inv[k]
    base = anchor_alignment(grades, theta, a, b)
    moved = anchor_alignment(grades[perm], theta[perm], inv[a], inv[b])
    assert base.inversion_decisions == moved.inversion_decisions
    assert base.n_inversion_pairs == moved.n_inversion_pairs
    assert base.kendall_tau_b == moved.kendall_tau_b or (
        base.kendall_tau_b is not None
        and moved.kendall_tau_b is not None
        and abs(base.kendall_tau_b - moved.kendall_tau_b) < 1e-12
    )
    assert np.array_equal(base.wins[perm], moved.wins)
    assert len(base.zero_win_anchors) == len(moved.zero_win_anchors)
