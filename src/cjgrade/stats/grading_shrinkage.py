"""Empirical-Bayes shrinkage of abilities before grade projection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cjgrade.errors import InputError
from cjgrade.stats.grading_checks import FloatArray, as_vector

__all__ = ["ShrunkAbilities", "shrink_abilities"]


@dataclass(frozen=True)
class ShrunkAbilities:
    """Empirical-Bayes posterior of every essay's ability (see :func:`shrink_abilities`).

    Attributes
    ----------
    theta : posterior means ``mean + lam * (theta - mean)``.
    se : posterior SDs ``sqrt(lam) * se``.
    population_mean, population_var : the moment estimates used.
    shrinkage : ``lam = population_var / (population_var + se^2)`` per essay.
    """

    theta: FloatArray
    se: FloatArray
    population_mean: float
    population_var: float
    shrinkage: FloatArray


def shrink_abilities(theta: ArrayLike, se: ArrayLike) -> ShrunkAbilities:
    """Shrink maximum-likelihood abilities toward the mean under a normal population prior.

    The population variance is estimated by moments, ``var(theta) - mean(se^2)`` (the true-score
    variance that also underlies SSR); each essay's posterior is ``N(mean + lam (theta - mean),
    lam se^2)`` with ``lam = var / (var + se^2)``.

    Raises
    ------
    InputError
        Fewer than three essays, bad values, or no true-score variance left (the scale has no
        reliable spread, SSR <= 0): grades would only reflect noise.
    """
    t = as_vector("theta", theta)
    s = as_vector("se", se)
    if t.size != s.size:
        raise InputError(f"theta and se differ in length ({t.size} vs {s.size})")
    if t.size < 3:
        raise InputError("shrinking abilities needs at least 3 essays")
    if np.any(s < 0):
        raise InputError("se must be non-negative")
    mean = float(t.mean())
    var = float(t.var(ddof=1) - np.mean(s**2))
    if not var > 0:
        raise InputError(
            "the abilities' spread is no larger than their standard errors (reliability <= 0); "
            "collect more comparisons before projecting grades"
        )
    lam = var / (var + s**2)
    return ShrunkAbilities(
        theta=np.asarray(mean + lam * (t - mean), dtype=np.float64),
        se=np.asarray(np.sqrt(lam) * s, dtype=np.float64),
        population_mean=mean,
        population_var=var,
        shrinkage=np.asarray(lam, dtype=np.float64),
    )
