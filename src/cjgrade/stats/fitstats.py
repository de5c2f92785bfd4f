"""Infit and outfit mean squares for items (essays) and judges of a Bradley-Terry fit.

For comparison ``k`` with model probability ``p_k`` that the first-named item wins and a hard
outcome ``y_k`` (1 or 0), the residual is ``y_k - p_k`` and its model variance
``p_k (1 - p_k)``. For a set of comparisons (those of one item, or of one judge):

- outfit = weighted mean of the squared standardised residuals ``(y - p)^2 / (p (1 - p))``;
  sensitive to surprising outcomes far from the item's level;
- infit = ``sum w (y - p)^2 / sum w p (1 - p)``: the information-weighted version, sensitive
  to misfit among well-matched comparisons.

Both have expectation about 1 under the model; values well above 1 flag inconsistent items or
judges. For hard outcomes these are the statistics of ``sirt::btm`` (``btm_fit_statistics``)
for data without ties, and of Pollitt (2012) / Bramley (2015) for CJ.

Soft outcomes (``0 < y < 1``: an LLM judge's probability, or a tie as 0.5) are scored as the
hard decision they stand for: ``Y ~ Bernoulli(y)``, with the expected squared residual
``E[(Y - p)^2] = (y - p)^2 + y (1 - y)`` in place of ``(y - p)^2``. The raw ``(y - p)^2`` of a
soft outcome is measured against the variance ``p (1 - p)`` of a hard one, so a judge whose
probabilities agree with the model scores near 0 (0.01 to 0.07 on the heuristic demo) and the
statistic says nothing. With the expected hard residual a calibrated judge (``y = p``) scores
exactly 1, an uninformative judge (``y = 0.5`` throughout) scores ``>= 1``, and a judge
confidently contradicting the model scores well above 1, as for hard decisions. For ``y`` in
``{0, 1}`` the added term is exactly 0, so hard data give sirt's figures unchanged.

Comparisons flagged ``soft`` in a fit that modelled them on their logit
(:mod:`cjgrade.stats.soft_outcomes`, ``soft_variance`` given) are scored by that model
instead: residual ``z - eta`` of the clipped logit against its fitted variance ``sigma^2``,
so their mean squares also have expectation 1 when the judge's scatter is as estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from cjgrade.errors import InputError
from cjgrade.stats.bt import PairwiseData
from cjgrade.stats.soft_outcomes import soft_logit

__all__ = ["FitStatistics", "compute_fit_statistics"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class FitStatistics:
    """Infit/outfit per item and per judge (NaN where a unit has no comparisons).

    Attributes
    ----------
    item_infit, item_outfit : arrays of length ``n_items``.
    judge_infit, judge_outfit : arrays of length ``n_judges``, indexed by ``data.judge``.
    judge_count : number of comparisons per judge.
    """

    item_infit: FloatArray
    item_outfit: FloatArray
    judge_infit: FloatArray
    judge_outfit: FloatArray
    judge_count: FloatArray


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def compute_fit_statistics(
    data: PairwiseData,
    theta: NDArray[np.float64],
    *,
    position_effect: float | None = None,
    n_judges: int | None = None,
    soft_variance: float | None = None,
) -> FitStatistics:
    """Infit and outfit for every item and judge at abilities ``theta``.

    Parameters
    ----------
    data : the comparisons the abilities were fitted to.
    theta : abilities, one per item.
    position_effect : first-position effect to include in the model probabilities, if fitted.
    n_judges : number of judges (default ``max(data.judge) + 1``); comparisons with judge
        ``-1`` count for items only.
    soft_variance : the fitted noise variance of the soft outcomes' logits; when given, the
        comparisons flagged ``soft`` are scored on their logits (module docstring).

    Returns
    -------
    FitStatistics
    """
    theta = np.asarray(theta, dtype=np.float64)
    n = data.n_items
    if theta.shape != (n,):
        raise InputError(f"theta must have shape ({n},)")
    gamma = 0.0 if position_effect is None else float(position_effect)
    eta = theta[data.a] - theta[data.b] + gamma * data.position_known
    p = expit(eta)
    var = p * (1.0 - p)
    w = data.weight
    y = data.y
    resid2 = (y - p) ** 2 + y * (1.0 - y)  # expected squared residual of Y ~ Bernoulli(y)
    if soft_variance is not None and data.has_soft:
        resid2 = np.where(data.soft, (soft_logit(y) - eta) ** 2, resid2)
        var = np.where(data.soft, soft_variance, var)
    sq = w * resid2
    z2 = w * np.divide(resid2, var, out=np.zeros_like(var), where=var > 0)
    wv = w * var

    def per_item(values: FloatArray) -> FloatArray:
        total = np.bincount(data.a, values, n) + np.bincount(data.b, values, n)
        return total.astype(np.float64, copy=False)

    item_w = per_item(w)
    item_outfit = _ratio(per_item(z2), item_w)
    item_infit = _ratio(per_item(sq), per_item(wv))

    known = data.judge >= 0
    if n_judges is None:
        n_judges = int(data.judge[known].max()) + 1 if known.any() else 0
    nj = n_judges
    j = data.judge[known]

    def per_judge(values: FloatArray) -> FloatArray:
        return np.bincount(j, values[known], nj).astype(np.float64, copy=False)

    judge_w = per_judge(w)
    return FitStatistics(
        item_infit=item_infit,
        item_outfit=item_outfit,
        judge_infit=_ratio(per_judge(sq), per_judge(wv)),
        judge_outfit=_ratio(per_judge(z2), judge_w),
        judge_count=judge_w,
    )
