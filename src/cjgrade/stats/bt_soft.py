"""The soft-outcome terms of the Bradley-Terry likelihood on aggregated comparisons.

Soft outcomes (a judge's stated probability) enter through their clipped logit ``z`` as
``z ~ N(eta, sigma^2)`` with ``eta = theta[a] - theta[b] + gamma * position_known``
(:mod:`cjgrade.stats.soft_outcomes`); Bernoulli outcomes as before. Both give every group a
score residual and an information (curvature) that the Newton solver and the standard errors
use alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from cjgrade.stats.btsolver import (
    POSITION_PRIOR_PRECISION,
    AggregatedPairs,
    Information,
    information_diagonal,
)
from cjgrade.stats.soft_outcomes import soft_logit, soft_noise_update

if TYPE_CHECKING:
    from cjgrade.stats.bt import PairwiseData

__all__ = [
    "estimate_soft_variance",
    "group_terms",
    "soft_effective_params",
    "soft_noise_at",
    "soft_residual_ss",
    "soft_weight",
]

FloatArray = NDArray[np.float64]


def group_terms(
    agg: AggregatedPairs, theta: FloatArray, gamma: float, soft_variance: float
) -> tuple[FloatArray, FloatArray]:
    """Per group: the score residual ``d loglik / d eta`` and the information ``-d^2 / d eta^2``.

    Bernoulli groups: ``w (y - p)`` and ``w p (1 - p)``; soft groups (logit ``z``):
    ``w (z - eta) / sigma^2`` and ``w / sigma^2``.
    """
    eta = theta[agg.a] - theta[agg.b] + gamma * agg.pk
    p = expit(eta)
    resid = agg.w * (agg.y - p)
    v = agg.w * p * (1.0 - p)
    if agg.has_soft:
        resid = np.where(agg.soft, agg.w * (agg.y - eta) / soft_variance, resid)
        v = np.where(agg.soft, agg.w / soft_variance, v)
    return resid, v


def soft_residual_ss(agg: AggregatedPairs, theta: FloatArray, gamma: float) -> float:
    """Weighted residual sum of squares of the soft logits at ``(theta, gamma)``."""
    eta = theta[agg.a] - theta[agg.b] + gamma * agg.pk
    r = np.where(agg.soft, agg.y - eta, 0.0)
    return float(agg.w @ (r * r)) + agg.within_ss


def soft_weight(agg: AggregatedPairs) -> float:
    """Total weight of the soft comparisons."""
    return float(agg.w[agg.soft].sum())


def soft_effective_params(
    agg: AggregatedPairs, v: FloatArray, effective_params: float
) -> float:
    """The share of ``effective_params`` fitted by the soft comparisons, in proportion to the
    information they carry (exact when every comparison is soft)."""
    total = float(v.sum())
    return effective_params * float(v[agg.soft].sum()) / total if total > 0 else 0.0


def estimate_soft_variance(
    agg: AggregatedPairs,
    theta: FloatArray,
    gamma: float,
    s2: float,
    alpha: float,
    use_gamma: bool,
    n_comp: int,
    *,
    dense: bool,
) -> float:
    """One evidence update of the soft-outcome noise variance at the fitted abilities."""
    _, v = group_terms(agg, theta, gamma, s2)
    n = agg.n_items
    if alpha == 0.0:
        fitted = float(n - len(np.flatnonzero(information_diagonal(agg, v, 0.0) <= 0)) - n_comp)
    else:
        info = Information(agg, v, alpha, use_gamma=use_gamma,
                           gamma_alpha=POSITION_PRIOR_PRECISION if use_gamma else 0.0)
        if dense:
            var_t, _ = info.covariance_diagonal()
        else:
            var_t = 1.0 / info.diag
        fitted = float(n - alpha * np.sum(var_t))
    fitted += 1.0 if use_gamma else 0.0
    return soft_noise_update(
        soft_residual_ss(agg, theta, gamma), soft_weight(agg),
        soft_effective_params(agg, v, fitted),
    )


def soft_noise_at(
    data: PairwiseData, theta: FloatArray, position_effect: float | None,
    soft_variance: float, effective_params: float,
) -> float:
    """One evidence update of the noise variance from raw comparisons at a fit: the residual
    sum of squares of the soft logits and their share of ``effective_params`` (by
    information, at ``soft_variance``)."""
    soft = data.soft & (data.weight > 0)
    w = data.weight
    eta = theta[data.a] - theta[data.b]
    if position_effect is not None:
        eta = eta + position_effect * data.position_known
    z = soft_logit(data.y)
    rss = float(np.sum((w * (z - eta) ** 2)[soft]))
    p = expit(eta)
    v = np.where(soft, w / soft_variance, w * p * (1.0 - p))
    total = float(v.sum())
    share = float(v[soft].sum()) / total if total > 0 else 0.0
    return soft_noise_update(rss, float(w[soft].sum()), effective_params * share)
