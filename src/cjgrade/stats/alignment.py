"""Anchor alignment: does the fitted scale order the anchors as their expert grades do?

Entry points (anchors are indices ``0..n_anchors-1``; grades are scale indices, lowest 0,
``-1`` = below-lowest)::

    anchor_alignment(expected_grade_idx, theta, winners, losers) -> AnchorAlignment
    meets_alignment_targets(alignment, *, min_tau=0.90, max_inversion_pairs=1,
                            max_zero_win=0) -> bool   # zero-win: the problem ones only

Metrics:

- Kendall's tau-b between the expert grades and the fitted abilities. Tau-b corrects for ties,
  which are the rule here (several anchors share a grade); the original system used a tau-a
  form, which penalises tied grades as if they were disagreements. Because the fitted
  abilities are (almost surely) untied, tau-b's best possible value is
  ``sqrt((n0 - n_tied) / n0)`` (``n0`` pairs, ``n_tied`` pairs with equal grades), reported as
  ``kendall_tau_b_max``: 0.977 for the 12 ENG5 anchors (three tied pairs).
- Direct inversions: decisions where the anchor with the lower expert grade beat the one with
  the higher grade, counted as decisions and as distinct anchor pairs. Decisions between
  anchors of the same grade are never inversions.
- Zero-win anchors (compared at least once, never won) and anchors never compared. In an
  anchor round robin that follows the grades exactly the lowest anchor never wins, so only the
  zero-win anchors graded above the lowest compared grade count against the targets
  (``problem_zero_win_anchors``, :func:`cjgrade.stats.rank_agreement.problem_zero_win`).
- Per-anchor wins, losses and win rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cjgrade.errors import InputError
from cjgrade.stats.rank_agreement import inversion_mask, problem_zero_win

__all__ = ["AnchorAlignment", "anchor_alignment", "meets_alignment_targets"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class AnchorAlignment:
    """How well the fitted anchor order agrees with the expert grades.

    Attributes
    ----------
    n_anchors : number of anchors.
    n_comparisons : anchor-versus-anchor decisions used.
    kendall_tau_b : tau-b between expert grade and fitted theta; None when undefined (all
        grades equal or all thetas equal).
    kendall_p_value : two-sided p-value of tau-b (scipy), None when undefined.
    kendall_tau_b_max : the largest tau-b possible with these tied grades and untied thetas.
    inversion_decisions : decisions won by the lower-graded anchor.
    inversion_pairs : distinct (lower-graded winner, higher-graded loser) pairs, sorted.
    zero_win_anchors : anchors compared at least once that never won.
    problem_zero_win_anchors : the zero-win anchors graded above the lowest compared grade
        (a perfectly ordered round robin has none; its lowest anchor always has zero wins).
    uncompared_anchors : anchors in no decision.
    wins, losses : per-anchor counts.
    win_rate : wins / (wins + losses); NaN for an anchor never compared.
    fitted_rank : 1 = highest theta (ties share the lowest rank number).
    expected_rank : 1 = highest expert grade (anchors of one grade share a rank).
    """

    n_anchors: int
    n_comparisons: int
    kendall_tau_b: float | None
    kendall_p_value: float | None
    kendall_tau_b_max: float
    inversion_decisions: int
    inversion_pairs: tuple[tuple[int, int], ...]
    zero_win_anchors: tuple[int, ...]
    problem_zero_win_anchors: tuple[int, ...]
    uncompared_anchors: tuple[int, ...]
    wins: IntArray
    losses: IntArray
    win_rate: FloatArray
    fitted_rank: IntArray
    expected_rank: IntArray

    @property
    def n_inversion_pairs(self) -> int:
        """Number of distinct inverted anchor pairs."""
        return len(self.inversion_pairs)


def _index_array(name: str, values: ArrayLike, n: int | None = None) -> IntArray:
    raw = np.asarray(values).ravel()
    if raw.size and not (
        np.issubdtype(raw.dtype, np.number) and np.all(np.equal(np.mod(raw, 1), 0))
    ):
        raise InputError(f"{name} must be integers")
    arr = raw.astype(np.intp)
    if n is not None and arr.size and (arr.min() < 0 or arr.max() >= n):
        raise InputError(f"{name} must be anchor indices in 0..{n - 1}")
    return arr


def anchor_alignment(
    expected_grade_idx: ArrayLike,
    theta: ArrayLike,
    winners: ArrayLike,
    losers: ArrayLike,
) -> AnchorAlignment:
    """Alignment metrics for anchors with expert grades, fitted abilities and their decisions.

    Parameters
    ----------
    expected_grade_idx : (n,) expert grade index per anchor (higher = better).
    theta : (n,) fitted abilities of the anchors.
    winners, losers : anchor indices of each anchor-versus-anchor decision (failed
        comparisons excluded by the caller).

    Returns
    -------
    AnchorAlignment

    Raises
    ------
    InputError
        Fewer than two anchors, mismatched lengths, indices out of range, self-comparisons or
        non-finite thetas.
    """
    # scipy.stats takes most of a second to import; load it only when alignment is computed.
    from scipy.stats import kendalltau, rankdata

    grades = _index_array("expected_grade_idx", expected_grade_idx)
    th = np.asarray(theta, dtype=np.float64).ravel()
    n = grades.size
    if n < 2:
        raise InputError(f"anchor alignment needs at least 2 anchors, got {n}")
    if th.size != n:
        raise InputError(f"theta has {th.size} values for {n} anchors")
    if not np.all(np.isfinite(th)):
        raise InputError("theta must be finite numbers")
    win = _index_array("winners", winners, n)
    lose = _index_array("losers", losers, n)
    if win.size != lose.size:
        raise InputError(f"winners and losers differ in length ({win.size} vs {lose.size})")
    if np.any(win == lose):
        raise InputError("an anchor cannot be compared with itself (winner == loser)")

    wins = np.bincount(win, minlength=n).astype(np.intp)
    losses = np.bincount(lose, minlength=n).astype(np.intp)
    total = wins + losses
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(total > 0, wins / np.maximum(total, 1), np.nan)

    inverted = inversion_mask(grades, win, lose)
    pairs = sorted({(int(w), int(lo)) for w, lo in zip(win[inverted], lose[inverted], strict=True)})

    tau: float | None = None
    p_value: float | None = None
    if np.unique(grades).size > 1 and np.unique(th).size > 1:
        res = kendalltau(grades, th, variant="b")
        tau, p_value = float(res.statistic), float(res.pvalue)

    n_pairs = n * (n - 1) // 2
    _, counts = np.unique(grades, return_counts=True)
    tied = int(np.sum(counts * (counts - 1) // 2))
    return AnchorAlignment(
        n_anchors=n,
        n_comparisons=int(win.size),
        kendall_tau_b=tau,
        kendall_p_value=p_value,
        kendall_tau_b_max=float(np.sqrt((n_pairs - tied) / n_pairs)),
        inversion_decisions=int(inverted.sum()),
        inversion_pairs=tuple(pairs),
        zero_win_anchors=tuple(int(i) for i in np.flatnonzero((total > 0) & (wins == 0))),
        problem_zero_win_anchors=problem_zero_win(grades, wins, losses),
        uncompared_anchors=tuple(int(i) for i in np.flatnonzero(total == 0)),
        wins=wins,
        losses=losses,
        win_rate=np.asarray(win_rate, dtype=np.float64),
        fitted_rank=np.asarray(rankdata(-th, method="min"), dtype=np.intp),
        expected_rank=np.asarray(rankdata(-grades, method="min"), dtype=np.intp),
    )


def meets_alignment_targets(
    alignment: AnchorAlignment,
    *,
    min_tau: float = 0.90,
    max_inversion_pairs: int = 1,
    max_zero_win: int = 0,
) -> bool:
    """Whether the alignment meets the targets set after the original batch-108 analysis.

    Defaults: tau-b >= 0.90, at most one inverted pair, no zero-win anchor above the lowest
    grade (the original's "no zero-win anchor" could not be met by a perfect result: the
    lowest anchor of a round robin always has zero wins). An undefined tau fails.
    """
    tau = alignment.kendall_tau_b
    return (
        tau is not None
        and tau >= min_tau
        and alignment.n_inversion_pairs <= max_inversion_pairs
        and len(alignment.problem_zero_win_anchors) <= max_zero_win
    )
