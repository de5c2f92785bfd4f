"""Rank agreement between expert grades and a fitted order: Kendall's tau in the forms that
matter for anchor alignment, direct inversions, and which zero-win anchors are a problem.

Entry points (items are indices ``0..n-1``; higher values rank higher)::

    concordance(x, y) -> Concordance          # pair counts, the one counting of this module
    kendall_tau_a(x, y) -> float | None       # (C - D) / (n(n-1)/2); ties count as neither
    kendall_tau_b(x, y) -> float | None       # tie-corrected (equals scipy's variant "b")
    original_tau_a(grade_idx, theta) -> float | None
    inversion_mask(grade_idx, winners, losers) -> bool array
    problem_zero_win(grade_idx, wins, losses) -> tuple[int, ...]

Kendall's tau of the original system (the ENG5 runner's alignment report): each anchor's
*actual rank* is its place in the fitted order (highest ability first) and its *expected rank*
its place after a **stable** sort by expert grade of the anchors taken in actual-rank order, so
anchors sharing a grade get consecutive expected ranks in their fitted order. Both rankings are
then untied and tau-a of the two is ``(C - D) / (n(n-1)/2)``. A pair of anchors with the same
grade is thereby always counted as concordant. :func:`original_tau_a` computes that figure, so
results can be set beside the original's recorded runs (batch 108: 0.818; a perfect ladder of
the 12 ENG5 anchors: 1.000). Tau-b instead leaves tied-grade pairs out of the numerator and
corrects the denominator, so its best value with tied grades is below 1 (0.977 for the 12
ENG5 anchors, three tied pairs); see :mod:`cjgrade.stats.alignment`.

Zero-win anchors: in a complete anchor round robin whose outcomes follow the grades exactly,
the lowest anchor loses every comparison, so "no zero-win anchor" can never be met by a
perfect result. Only a zero-win anchor whose grade is above the lowest grade among the anchors
compared is a problem (:func:`problem_zero_win`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cjgrade.errors import InputError

__all__ = [
    "Concordance",
    "concordance",
    "inversion_mask",
    "kendall_tau_a",
    "kendall_tau_b",
    "original_expected_ranks",
    "original_tau_a",
    "problem_zero_win",
]

IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Concordance:
    """Pair counts of two rankings of the same ``n`` items.

    ``concordant + discordant + tied_x_only + tied_y_only + tied_both == n_pairs``.
    """

    n: int
    concordant: int
    discordant: int
    tied_x_only: int
    tied_y_only: int
    tied_both: int

    @property
    def n_pairs(self) -> int:
        return self.n * (self.n - 1) // 2

    @property
    def tied_x(self) -> int:
        """Pairs tied in ``x`` (whether or not tied in ``y``)."""
        return self.tied_x_only + self.tied_both

    @property
    def tied_y(self) -> int:
        return self.tied_y_only + self.tied_both


def _vector(name: str, values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite numbers")
    return arr


def concordance(x: ArrayLike, y: ArrayLike) -> Concordance:
    """Count concordant, discordant and tied pairs of ``x`` and ``y`` (same length).

    O(n^2) over the pairs, which is what the small anchor sets of an alignment test need.

    Raises
    ------
    InputError
        Different lengths or non-finite values.
    """
    a, b = _vector("x", x), _vector("y", y)
    if a.size != b.size:
        raise InputError(f"the two rankings differ in length ({a.size} vs {b.size})")
    n = a.size
    i, j = np.triu_indices(n, k=1)
    sa, sb = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    product = sa * sb
    return Concordance(
        n=n,
        concordant=int(np.sum(product > 0)),
        discordant=int(np.sum(product < 0)),
        tied_x_only=int(np.sum((sa == 0) & (sb != 0))),
        tied_y_only=int(np.sum((sa != 0) & (sb == 0))),
        tied_both=int(np.sum((sa == 0) & (sb == 0))),
    )


def kendall_tau_a(x: ArrayLike, y: ArrayLike) -> float | None:
    """Tau-a: ``(C - D) / (n(n-1)/2)``; tied pairs count in the denominator only. None for
    fewer than two items."""
    c = concordance(x, y)
    if c.n_pairs == 0:
        return None
    return (c.concordant - c.discordant) / c.n_pairs


def kendall_tau_b(x: ArrayLike, y: ArrayLike) -> float | None:
    """Tau-b: ``(C - D) / sqrt((n0 - n_x)(n0 - n_y))`` with ``n_x``, ``n_y`` the pairs tied
    in each ranking. None when undefined (fewer than two items, or one ranking all tied)."""
    c = concordance(x, y)
    denominator = (c.n_pairs - c.tied_x) * (c.n_pairs - c.tied_y)
    if denominator == 0:
        return None
    return (c.concordant - c.discordant) / math.sqrt(denominator)


def original_expected_ranks(grade_idx: ArrayLike, theta: ArrayLike) -> tuple[IntArray, IntArray]:
    """``(actual_rank, expected_rank)`` as the original's report formed them (1 = best).

    Actual rank: order by ``theta`` descending (equal thetas keep their input order). Expected
    rank: a stable sort of that order by grade descending, so equal grades keep their fitted
    order.
    """
    grades, th = _vector("grade_idx", grade_idx), _vector("theta", theta)
    if grades.size != th.size:
        raise InputError(f"grade_idx has {grades.size} values for {th.size} thetas")
    by_theta = np.argsort(-th, kind="stable")
    actual = np.empty(th.size, dtype=np.intp)
    actual[by_theta] = np.arange(1, th.size + 1)
    by_grade = by_theta[np.argsort(-grades[by_theta], kind="stable")]
    expected = np.empty(th.size, dtype=np.intp)
    expected[by_grade] = np.arange(1, th.size + 1)
    return actual, expected


def original_tau_a(grade_idx: ArrayLike, theta: ArrayLike) -> float | None:
    """The original system's Kendall's tau (tau-a over its untied actual and expected ranks,
    see the module docstring); None for fewer than two anchors (the original printed 0.0)."""
    actual, expected = original_expected_ranks(grade_idx, theta)
    return kendall_tau_a(actual, expected)


def _indices(name: str, values: ArrayLike, n: int) -> IntArray:
    raw = np.asarray(values).ravel()
    if raw.size and not (np.issubdtype(raw.dtype, np.integer)
                         or (np.issubdtype(raw.dtype, np.number)
                             and np.all(np.equal(np.mod(raw, 1), 0)))):
        raise InputError(f"{name} must be integer item indices")
    arr = raw.astype(np.intp)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise InputError(f"{name} must be item indices in 0..{n - 1}")
    return arr


def inversion_mask(grade_idx: ArrayLike, winners: ArrayLike, losers: ArrayLike) -> BoolArray:
    """For each decision, whether the winner has the *lower* expert grade (a direct
    inversion). Decisions between equal grades are never inversions."""
    grades = _vector("grade_idx", grade_idx)
    win = _indices("winners", winners, grades.size)
    lose = _indices("losers", losers, grades.size)
    if win.size != lose.size:
        raise InputError(f"winners and losers differ in length ({win.size} vs {lose.size})")
    return np.asarray(grades[win] < grades[lose], dtype=np.bool_)


def problem_zero_win(grade_idx: ArrayLike, wins: ArrayLike, losses: ArrayLike
                     ) -> tuple[int, ...]:
    """Anchors that were compared, never won, and are graded above the lowest grade among the
    compared anchors: the zero-win anchors a perfectly ordered round robin would not produce.

    The lowest-graded anchor losing everything is what a correct judge does, so it is never
    reported here (nor is any other anchor of that lowest grade).
    """
    grades = _vector("grade_idx", grade_idx)
    w, lo = _vector("wins", wins), _vector("losses", losses)
    if not (grades.size == w.size == lo.size):
        raise InputError("grade_idx, wins and losses must have one value per anchor")
    compared = (w + lo) > 0
    if not compared.any():
        return ()
    lowest = grades[compared].min()
    return tuple(int(i) for i in np.flatnonzero(compared & (w == 0) & (grades > lowest)))
