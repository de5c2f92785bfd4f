"""Reliability of a Bradley-Terry scale: SSR, separation, split-half.

References: Bramley (2015) "Investigating the reliability of adaptive comparative judgment";
Verhavert et al. (2018) "Scale separation reliability: what does it mean in the context of
comparative judgment?"; Wright & Masters (1982) *Rating Scale Analysis* (separation index);
Robitzsch, ``sirt::btm`` (``mle.rel`` and ``sepG``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from cjgrade.errors import InputError
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry

__all__ = [
    "SplitHalf",
    "scale_separation_reliability",
    "separation_index",
    "split_half_reliability",
]

FloatArray = NDArray[np.float64]


def _variances(theta: FloatArray, se: FloatArray) -> tuple[float, float]:
    theta = np.asarray(theta, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    if theta.shape != se.shape:
        raise InputError(f"theta and se differ in shape ({theta.shape} vs {se.shape})")
    if theta.size < 2:
        return float("nan"), float("nan")
    return float(np.var(theta, ddof=1)), float(np.mean(se**2))


def scale_separation_reliability(theta: NDArray[np.float64], se: NDArray[np.float64]) -> float:
    """Scale Separation Reliability: (observed variance - mean error variance) / observed variance.

    The observed variance is the sample variance (ddof=1) of ``theta``; the error variance is the
    mean of ``se**2``. This is sirt's ``mle.rel``. Can be negative when the errors swamp the
    spread; NaN for fewer than two items or no spread.
    """
    var_obs, mse = _variances(theta, se)
    if not var_obs > 0:
        return float("nan")
    return (var_obs - mse) / var_obs


def separation_index(
    theta: NDArray[np.float64],
    se: NDArray[np.float64],
    *,
    kind: Literal["true", "observed"] = "true",
) -> float:
    """Separation index G: spread of the abilities in units of their standard error.

    Parameters
    ----------
    theta, se : abilities and their standard errors.
    kind : ``"true"`` (Wright & Masters): ``sqrt((var - mse) / mse)``, the "true" SD over the
        RMSE, so ``G**2 = SSR / (1 - SSR)`` (0 when the errors exceed the spread).
        ``"observed"``: ``sqrt(var / mse)``, what ``sirt::btm`` reports as ``sepG``
        (``= sqrt(1 / (1 - SSR))``).

    Returns
    -------
    float
        NaN for fewer than two items or zero error variance.
    """
    var_obs, mse = _variances(theta, se)
    if not mse > 0 or np.isnan(var_obs):
        return float("nan")
    if kind == "observed":
        return float(np.sqrt(var_obs / mse))
    if kind == "true":
        return float(np.sqrt(max(var_obs - mse, 0.0) / mse))
    raise InputError(f"unknown separation kind {kind!r}; use 'true' or 'observed'")


@dataclass(frozen=True)
class SplitHalf:
    """Result of :func:`split_half_reliability`.

    Attributes
    ----------
    reliability : mean Spearman-Brown corrected correlation over the splits.
    values : the corrected correlation of every split.
    half_correlations : the uncorrected correlation between the halves' abilities per split.
    by : what was split, ``"judge"`` or ``"decision"``.
    """

    reliability: float
    values: FloatArray
    half_correlations: FloatArray
    by: str


def _split_masks(
    data: PairwiseData, rng: np.random.Generator, by: str
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    m = data.n_comparisons
    if by == "decision":
        first = np.zeros(m, dtype=np.bool_)
        first[rng.permutation(m)[: m // 2]] = True
        return first, ~first
    judges = np.unique(data.judge)
    chosen = rng.permutation(judges)[: judges.size // 2]
    first = np.isin(data.judge, chosen)
    return first, ~first


def _subset(data: PairwiseData, mask: NDArray[np.bool_]) -> PairwiseData:
    return PairwiseData(
        data.n_items,
        data.a[mask],
        data.b[mask],
        data.y[mask],
        data.position_known[mask],
        data.judge[mask],
        data.weight[mask],
        data.soft[mask],
    )


def split_half_reliability(
    data: PairwiseData,
    rng: np.random.Generator,
    *,
    by: Literal["judge", "decision"] = "judge",
    n_splits: int = 20,
    alpha: float = 0.1,
    eps: float = 0.0,
) -> SplitHalf:
    """Split-half reliability: fit each random half, correlate, Spearman-Brown correct.

    Each split divides the judges (``by="judge"``, needs at least two judges) or the decisions
    (``by="decision"``) at random into two halves, fits Bradley-Terry to each half, and takes
    the Pearson correlation ``r`` of the two ability vectors over the items compared in both
    halves; the split's reliability is ``2 r / (1 + r)``. Halves are sparse, so each is fitted
    with a weak Gaussian prior (``alpha``, default 0.1, prior SD about 3 logits) that keeps
    items with all wins or losses, or a disconnected half, finite.

    Parameters
    ----------
    data : the comparisons (``data.judge`` is used when ``by="judge"``).
    rng : source of randomness for the splits.
    by, n_splits : what to split and how many random splits to average.
    alpha, eps : prior precision and score adjustment used to fit each half.

    Raises
    ------
    InputError
        Fewer than two judges (``by="judge"``), fewer than four decisions, or fewer than three
        items compared in both halves.
    ConvergenceError
        A half cannot be fitted (only possible with ``alpha == 0``).
    """
    if by not in ("judge", "decision"):
        raise InputError(f"unknown split {by!r}; use 'judge' or 'decision'")
    if n_splits < 1:
        raise InputError("n_splits must be at least 1")
    if data.n_comparisons < 4:
        raise InputError("split-half reliability needs at least four decisions")
    if by == "judge" and np.unique(data.judge).size < 2:
        raise InputError("split-half by judge needs at least two judges; split by decision")
    values = np.empty(n_splits)
    raw = np.empty(n_splits)
    for k in range(n_splits):
        first, second = _split_masks(data, rng, by)
        halves = [_subset(data, mask) for mask in (first, second)]
        fits = [fit_bradley_terry(h, alpha=alpha, eps=eps, se_method="none") for h in halves]
        both = _compared(halves[0]) & _compared(halves[1])
        if both.sum() < 3:
            raise InputError(
                "fewer than three items were compared in both halves; split-half reliability "
                "needs more comparisons per item"
            )
        r = float(np.corrcoef(fits[0].theta[both], fits[1].theta[both])[0, 1])
        raw[k] = r
        values[k] = 2.0 * r / (1.0 + r)
    return SplitHalf(float(values.mean()), values, raw, by)


def _compared(data: PairwiseData) -> NDArray[np.bool_]:
    n = data.n_items
    counts = np.bincount(data.a, minlength=n) + np.bincount(data.b, minlength=n)
    return np.asarray(counts > 0, dtype=np.bool_)
