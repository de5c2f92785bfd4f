"""Kendall's tau in the original's tau-a form and tie-corrected tau-b, direct inversions and
the zero-win rule, against hand-computed values, scipy and the original's recorded runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from cjgrade.errors import InputError
from cjgrade.stats.rank_agreement import (
    concordance,
    inversion_mask,
    kendall_tau_a,
    kendall_tau_b,
    original_expected_ranks,
    original_tau_a,
    problem_zero_win,
)

ENG5 = ["F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A"]
"""The letter grades of the 12 ENG5 anchors, lowest first (an index order only)."""


def _grades(letters: list[str]) -> list[int]:
    return [ENG5.index(g) for g in letters]


def test_concordance_counts_by_hand() -> None:
    """x = [1, 1, 2, 3], y = [1, 2, 3, 3]: pairs (0,1) tied in x only, (2,3) tied in y only,
    the other four concordant: tau-a 4/6, tau-b 4/sqrt(5*5) = 0.8."""
    c = concordance([1, 1, 2, 3], [1, 2, 3, 3])
    counts = (c.concordant, c.discordant, c.tied_x_only, c.tied_y_only, c.tied_both)
    assert counts == (4, 0, 1, 1, 0)
    assert c.n_pairs == 6
    assert kendall_tau_a([1, 1, 2, 3], [1, 2, 3, 3]) == pytest.approx(4 / 6)
    assert kendall_tau_b([1, 1, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.8)


def test_one_swap_by_hand() -> None:
    """Swapping two neighbours of four: 5 concordant, 1 discordant, tau = 4/6 in both forms."""
    assert kendall_tau_a([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)


def test_original_tau_a_orders_tied_grades_by_fit() -> None:
    """Grades [1, 1, 0], thetas [0, 1, 2]: actual ranks (3, 2, 1); expected ranks by a stable
    grade sort of the fitted order (2, 1, 3); one concordant and two discordant pairs give
    -1/3. Tau-b of grade and theta: two discordant pairs, one grade tie: -2/sqrt(2*3)."""
    actual, expected = original_expected_ranks([1, 1, 0], [0.0, 1.0, 2.0])
    assert actual.tolist() == [3, 2, 1] and expected.tolist() == [2, 1, 3]
    assert original_tau_a([1, 1, 0], [0.0, 1.0, 2.0]) == pytest.approx(-1 / 3)
    assert kendall_tau_b([1, 1, 0], [0.0, 1.0, 2.0]) == pytest.approx(-2 / np.sqrt(6))


def test_batch_108_recorded_figures() -> None:
    """The original's batch 108 anchor scores give its recorded tau (0.818, original form) and
    tau-b 0.791 (reference section 7, row 1)."""
    rows = [("A", 3.72), ("A", 2.31), ("B", 2.95), ("B", 2.94), ("C+", -0.03), ("C-", -1.99),
            ("D+", -1.88), ("D-", -4.05), ("E+", -3.24), ("E-", -7.99), ("F+", -5.04),
            ("F+", -6.31)]
    grades, theta = _grades([g for g, _ in rows]), [t for _, t in rows]
    assert original_tau_a(grades, theta) == pytest.approx(0.818, abs=5e-4)
    assert kendall_tau_b(grades, theta) == pytest.approx(0.791, abs=5e-4)
    assert kendall_tau_b(grades, theta) == pytest.approx(kendalltau(grades, theta).statistic)


def test_perfect_ladder_is_one_in_the_original_form_and_0977_in_tau_b() -> None:
    """Run a259881c: a perfect ladder of the 12 anchors. The original printed 1.000; tau-b
    cannot exceed sqrt((66 - 3) / 66) = 0.977 with three tied grade pairs."""
    rows = [("A", 5.36), ("A", 4.645), ("B", 3.846), ("B", 2.993), ("C+", 2.089),
            ("C-", 1.125), ("D+", 0.089), ("D-", -1.04), ("E+", -2.292), ("E-", -3.718),
            ("F+", -5.421), ("F+", -7.678)]
    grades, theta = _grades([g for g, _ in rows]), [t for _, t in rows]
    assert original_tau_a(grades, theta) == pytest.approx(1.0)
    assert kendall_tau_b(grades, theta) == pytest.approx(np.sqrt(63 / 66))


def test_lower5_one_inversion_gives_0800() -> None:
    """LOWER5 batch 148: D-, E+, E-, F+, F+ with one F+ fitted above E-: tau 0.800."""
    grades = _grades(["D-", "E+", "E-", "F+", "F+"])
    assert original_tau_a(grades, [2.0, 1.0, -0.5, 0.0, -2.0]) == pytest.approx(0.8)
    assert original_tau_a(grades, [2.0, 1.0, 0.0, -0.5, -2.0]) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 14))
def test_tau_b_equals_scipy(seed: int, n: int) -> None:
    """Tau-b equals scipy's variant "b" (None where scipy gives NaN); tau-a equals
    (C - D)/n0 checked independently through the sign products."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, n)
    y = rng.integers(0, 5, n)
    ours = kendall_tau_b(x, y)
    ref = kendalltau(x, y, variant="b").statistic
    if np.isnan(ref):
        assert ours is None
    else:
        assert ours == pytest.approx(ref, abs=1e-12)
    s = np.sign(np.subtract.outer(x, x)) * np.sign(np.subtract.outer(y, y))
    assert kendall_tau_a(x, y) == pytest.approx(s[np.triu_indices(n, 1)].sum() / (n * (n - 1) / 2))


def test_undefined_cases() -> None:
    assert kendall_tau_a([1], [2]) is None and kendall_tau_b([1], [2]) is None
    assert kendall_tau_b([1, 1, 1], [1, 2, 3]) is None
    assert original_tau_a([2], [0.5]) is None


def test_inversions_by_hand() -> None:
    """Grades [0, 1, 2]: 0 beating 2 and 1 beating 2 are inversions; 2 beating 0 is not; a
    same-grade decision never is."""
    mask = inversion_mask([0, 1, 2, 2], [0, 1, 2, 2], [2, 2, 0, 3])
    assert mask.tolist() == [True, True, False, False]


def test_zero_win_rule() -> None:
    """Only zero-win anchors above the lowest compared grade are problems; an uncompared
    anchor is not a zero-win anchor; the lowest-graded anchors never are problems."""
    grades = [0, 0, 1, 2, 3]
    wins = [0, 1, 0, 3, 0]
    losses = [4, 3, 3, 1, 0]  # anchor 4 never compared
    assert problem_zero_win(grades, wins, losses) == (2,)
    assert problem_zero_win(grades, [0] * 5, [0] * 5) == ()
    # anchor 0 uncompared: the lowest compared grade is 1, so a zero-win grade-1 anchor is fine
    assert problem_zero_win([0, 1, 2], [0, 0, 1], [0, 1, 0]) == ()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: concordance([1, 2], [1]), "differ in length"),
        (lambda: concordance([1, float("nan")], [1, 2]), "finite"),
        (lambda: inversion_mask([0, 1], [0, 2], [1, 0]), "indices in 0..1"),
        (lambda: inversion_mask([0, 1], [0.5], [1]), "integer"),
        (lambda: inversion_mask([0, 1], [0, 1], [1]), "differ in length"),
        (lambda: problem_zero_win([0, 1], [0], [1, 1]), "one value per anchor"),
        (lambda: original_tau_a([0, 1], [0.0]), "values for"),
    ],
)
def test_bad_input(call: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()  # type: ignore[operator]
