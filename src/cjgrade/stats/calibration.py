"""Judge calibration: does a judge's stated certainty match how often the fitted scale agrees?

Entry point (essays are indices ``0..n_items-1``; one entry per successful comparison)::

    assess_judge_calibration(a, b, p_a, theta, se, *, confidence=None, anchor_rank=None,
                             bin_edges=BIN_EDGES, levels=CONFIDENCE_LEVELS)
        -> JudgeCalibration (.bins, .levels, .overall, .calibration_error, ...)

For every comparison the *chosen* essay is the one the judge favoured (A when ``p_a > 0.5``)
and ``p_chosen = max(p_a, 1 - p_a)`` is the judge's stated probability that it is better.
Comparisons with ``p_a = 0.5`` favour neither and are left out (counted in ``n_undecided``).
Each cell (a bin of ``p_chosen``, or a stated confidence level) reports:

- ``n`` and ``mean_stated``: comparisons and their mean ``p_chosen``;
- ``observed_agreement``: the share where the fitted scale agrees with the verdict,
  ``theta[chosen] > theta[other]`` (equal thetas count one half);
- ``predicted_agreement``: what the fitted scale itself expects that share to be, the mean of
  ``Phi((theta_c - theta_o) / sqrt(se_c^2 + se_o^2))`` -- below 1 because the thetas are
  uncertain, so a well-calibrated judge sits near it rather than at 1;
- ``anchor_pairs`` and ``anchor_agreement``: among comparisons of two anchors with different
  expert grades, how many there were and the share where the verdict picked the higher grade.

The scale is fitted on these same verdicts, so agreement is in-sample: it flatters the judge,
most when there are few comparisons per essay. A calibrated judge has ``observed_agreement``
close to ``mean_stated`` in every bin; a judge whose level-5 verdicts agree no more often than
its level-2 ones states a certainty it does not have. The position (A-slot) effect of the fit
is not part of the agreement: the question is which essay is better, not which slot wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from cjgrade.errors import InputError

__all__ = [
    "BIN_EDGES",
    "CONFIDENCE_LEVELS",
    "CalibrationCell",
    "JudgeCalibration",
    "assess_judge_calibration",
]

BIN_EDGES: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Bins of ``p_chosen``: ``[0.5, 0.6), ..., [0.8, 0.9), [0.9, 1.0]``."""

CONFIDENCE_LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)
"""The stated-confidence scale of the judges (``cjgrade.judges.verdict``)."""

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class CalibrationCell:
    """Agreement figures for one group of comparisons (None where ``n`` or
    ``anchor_pairs`` is 0).

    Attributes
    ----------
    label : ``[0.5, 0.6)`` for a bin, the level (``3``) for a confidence level, ``all``.
    lower, upper : the bin's bounds (None for a level or ``all``).
    level : the stated confidence level (None for a bin or ``all``).
    n : comparisons in the cell.
    mean_stated : mean stated ``p_chosen``.
    observed_agreement : share with ``theta[chosen] > theta[other]``.
    predicted_agreement : mean model probability that ``theta[chosen] > theta[other]``.
    anchor_pairs : comparisons of two anchors with different expert grades.
    anchor_agreement : share of those where the chosen anchor has the higher grade.
    """

    label: str
    lower: float | None
    upper: float | None
    level: int | None
    n: int
    mean_stated: float | None
    observed_agreement: float | None
    predicted_agreement: float | None
    anchor_pairs: int
    anchor_agreement: float | None


@dataclass(frozen=True)
class JudgeCalibration:
    """A judge's calibration against the fitted scale.

    Attributes
    ----------
    bins : one cell per ``p_chosen`` bin, empty bins included (``n = 0``).
    levels : one cell per confidence level when any comparison carries a level, else empty.
    overall : every decided comparison.
    n_undecided : comparisons with ``p_a = 0.5`` (left out).
    calibration_error : ``sum_bins n * |mean_stated - observed_agreement| / sum n`` (the
        expected calibration error against the fitted scale); None without comparisons.
    hard_outcomes : every decided comparison has ``p_chosen = 1`` (a judge that states no
        probability): the diagram has a single point.
    """

    bins: tuple[CalibrationCell, ...]
    levels: tuple[CalibrationCell, ...]
    overall: CalibrationCell
    n_undecided: int
    calibration_error: float | None
    hard_outcomes: bool


def _vector(name: str, values: ArrayLike, n: int | None = None) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional")
    if n is not None and arr.size != n:
        raise InputError(f"{name} has {arr.size} entries, expected {n}")
    return arr


def _indices(name: str, values: ArrayLike, n: int, n_items: int) -> NDArray[np.intp]:
    arr = _vector(name, values, n)
    idx = arr.astype(np.intp)
    if np.any(idx != arr) or np.any(idx < 0) or np.any(idx >= n_items):
        raise InputError(f"{name} must hold essay indices 0..{n_items - 1}")
    return idx


def _check_edges(edges: Sequence[float]) -> FloatArray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or e[0] != 0.5 or e[-1] != 1.0 or np.any(np.diff(e) <= 0):
        raise InputError("bin_edges must increase from 0.5 to 1.0")
    return e


def _cell(label: str, mask: BoolArray, stated: FloatArray, agree: FloatArray,
          predicted: FloatArray, anchor_mask: BoolArray, anchor_agree: BoolArray, *,
          lower: float | None = None, upper: float | None = None,
          level: int | None = None) -> CalibrationCell:
    n = int(mask.sum())
    anchored = mask & anchor_mask
    n_anchor = int(anchored.sum())
    return CalibrationCell(
        label=label, lower=lower, upper=upper, level=level, n=n,
        mean_stated=float(stated[mask].mean()) if n else None,
        observed_agreement=float(agree[mask].mean()) if n else None,
        predicted_agreement=float(predicted[mask].mean()) if n else None,
        anchor_pairs=n_anchor,
        anchor_agreement=float(anchor_agree[anchored].mean()) if n_anchor else None,
    )


def assess_judge_calibration(
    a: ArrayLike,
    b: ArrayLike,
    p_a: ArrayLike,
    theta: ArrayLike,
    se: ArrayLike,
    *,
    confidence: ArrayLike | None = None,
    anchor_rank: ArrayLike | None = None,
    bin_edges: Sequence[float] = BIN_EDGES,
    levels: Sequence[int] = CONFIDENCE_LEVELS,
) -> JudgeCalibration:
    """Agreement of a judge's verdicts with the fitted scale, per ``p_chosen`` bin and per
    stated confidence level.

    Parameters
    ----------
    a, b : essay indices of the A and B slot of each comparison.
    p_a : probability that A is better, in [0, 1] (hard outcomes are 0 or 1).
    theta, se : fitted abilities and their standard errors, one per essay.
    confidence : stated confidence level per comparison, NaN where none was stated.
    anchor_rank : per essay, the rank of an anchor's expert grade (higher = better; any
        integers >= 0) and -1 for a student.
    bin_edges : increasing, from 0.5 to 1.0; the last bin is closed.
    levels : the confidence levels to report.

    Returns
    -------
    JudgeCalibration

    Raises
    ------
    InputError
        For mismatched lengths, indices out of range, ``p_a`` outside [0, 1] or non-finite
        thetas or standard errors.
    """
    th = _vector("theta", theta)
    s = _vector("se", se, th.size)
    if not (np.all(np.isfinite(th)) and np.all(np.isfinite(s)) and np.all(s >= 0)):
        raise InputError("theta and se must be finite, se non-negative")
    p = _vector("p_a", p_a)
    if not np.all((p >= 0) & (p <= 1)):
        raise InputError("p_a must lie in [0, 1]")
    ia, ib = _indices("a", a, p.size, th.size), _indices("b", b, p.size, th.size)
    edges = _check_edges(bin_edges)
    decided = p != 0.5
    chose_a = p > 0.5
    chosen, other = np.where(chose_a, ia, ib)[decided], np.where(chose_a, ib, ia)[decided]
    stated = np.maximum(p, 1.0 - p)[decided]
    diff = th[chosen] - th[other]
    agree = np.where(diff > 0, 1.0, np.where(diff == 0, 0.5, 0.0))
    scale = np.hypot(s[chosen], s[other])
    with np.errstate(divide="ignore", invalid="ignore"):
        predicted = np.where(scale > 0, ndtr(diff / np.where(scale > 0, scale, 1.0)), agree)
    if anchor_rank is None:
        anchor_mask = np.zeros(stated.size, dtype=np.bool_)
        anchor_agree = anchor_mask.copy()
    else:
        rank = _vector("anchor_rank", anchor_rank, th.size)
        rc, ro = rank[chosen], rank[other]
        anchor_mask = (rc >= 0) & (ro >= 0) & (rc != ro)
        anchor_agree = rc > ro
    common = (stated, agree, predicted, anchor_mask, anchor_agree)
    bins = []
    for k, (lo, hi) in enumerate(pairwise(edges.tolist())):
        last = k == edges.size - 2
        mask = (stated >= lo) & ((stated <= hi) if last else (stated < hi))
        label = f"[{lo:.1f}, {hi:.1f}{']' if last else ')'}"
        bins.append(_cell(label, mask, *common, lower=lo, upper=hi))
    level_cells: list[CalibrationCell] = []
    if confidence is not None:
        conf = _vector("confidence", confidence, p.size)[decided]
        if np.any(np.isfinite(conf)):
            level_cells = [_cell(str(lv), conf == lv, *common, level=int(lv)) for lv in levels]
    overall = _cell("all", np.ones(stated.size, dtype=np.bool_), *common)
    n_total = sum(c.n for c in bins)
    error = (sum(c.n * abs(c.mean_stated - c.observed_agreement) for c in bins
                 if c.mean_stated is not None and c.observed_agreement is not None) / n_total
             if n_total else None)
    return JudgeCalibration(
        bins=tuple(bins), levels=tuple(level_cells), overall=overall,
        n_undecided=int((~decided).sum()), calibration_error=error,
        hard_outcomes=bool(stated.size) and bool(np.all(stated == 1.0)),
    )
