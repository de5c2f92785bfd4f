"""Variance-reduction (A-optimal) weights for pair selection.

For the Bradley-Terry posterior with covariance ``S`` (inverse of the information matrix plus
the prior precision), comparing items ``i`` and ``j`` adds information ``w_ij`` along
``u = e_i - e_j``; by the Sherman-Morrison formula the total posterior variance ``trace(S)``
then falls by

    gain_ij = w_ij * |S u|^2 / (1 + w_ij * u' S u)

where ``u' S u = S_ii + S_jj - 2 S_ij`` is the variance of the difference and ``w_ij`` the
expected ``p (1 - p)`` of the comparison, integrated over that variance; for a judge with soft
outcomes it is ``1 / sigma^2`` whatever the pair (``PairingState.soft_information``), and the
design then seeks the pairs whose difference is least known. Unlike ``p (1 - p)``
alone, the gain values comparisons between items whose *difference* is poorly known (far
apart in the comparison graph), not only close items, so the design keeps the scale globally
tied together while still preferring informative close contests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from cjgrade.errors import InputError
from cjgrade.stats.btsolver import blas_threads

if TYPE_CHECKING:
    from cjgrade.stats.pairing import PairingState

__all__ = ["posterior_covariance", "variance_reduction"]

FloatArray = NDArray[np.float64]


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def posterior_covariance(state: PairingState) -> FloatArray:
    """Approximate posterior covariance of the abilities from the history and estimates.

    The information matrix is the Laplacian of the comparison graph weighted by
    ``count * p (1 - p)`` at the current estimates. The prior precision is ``1 / prior_variance``
    when the state carries one, else ``1 / (var(theta) + mean(se^2))`` (the empirical-Bayes
    fixed point), floored so the matrix is always invertible.
    """
    n = state.n_items
    theta = state.theta
    if state.soft_information is not None:
        w = state.pair_counts * state.soft_information
    else:
        p = _sigmoid(theta[:, None] - theta[None, :])
        w = state.pair_counts * p * (1.0 - p)
    info = np.diag(w.sum(axis=1)) - w
    if state.prior_variance is not None:
        tau2 = state.prior_variance
    else:
        tau2 = float(np.var(theta) + np.mean(state.se**2)) if n > 1 else 1.0
    info[np.diag_indices(n)] += 1.0 / max(tau2, 1e-3)
    return _spd_inverse(info)


def _spd_inverse(matrix: FloatArray) -> FloatArray:
    """Inverse of a symmetric positive definite matrix through its Cholesky factor (about
    half the work of a general inverse); overwrites ``matrix``."""
    with blas_threads(matrix.shape[0]):
        factor, info = scipy.linalg.lapack.dpotrf(matrix, lower=False, overwrite_a=True)
        if info == 0:
            inverse, info = scipy.linalg.lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise InputError("the pairing design's information matrix is not positive definite")
    upper = np.triu(inverse)
    full: FloatArray = upper + np.triu(inverse, 1).T
    return full


def _symmetric_square(matrix: FloatArray) -> FloatArray:
    """``matrix @ matrix`` for a symmetric ``matrix`` (one triangle computed: half a product)."""
    with blas_threads(matrix.shape[0]):
        upper = scipy.linalg.blas.dsyrk(1.0, matrix)
    full: FloatArray = upper + np.triu(upper, 1).T
    return full


def variance_reduction(
    state: PairingState, criterion: str = "trace", power: float = 1.0
) -> FloatArray:
    """``(n, n)`` matrix of expected reductions of ``trace(S)`` for each possible pair."""
    cov = posterior_covariance(state)
    diag = np.diag(cov)
    d = np.clip(diag[:, None] + diag[None, :] - 2.0 * cov, 0.0, None)
    if criterion == "rank":
        spread = float(np.var(state.theta) + np.mean(state.se**2))
        z2 = (state.theta - state.theta.mean()) ** 2 / max(spread, 1e-6)
        weight = np.exp(-0.5 * power * z2)
        sq = cov @ (weight[:, None] * cov)
    else:
        sq = _symmetric_square(cov)
    sq_diag = np.diag(sq)
    q = np.clip(sq_diag[:, None] + sq_diag[None, :] - 2.0 * sq, 0.0, None)
    if state.soft_information is not None:
        w = np.full_like(d, state.soft_information)
    else:
        diff = state.theta[:, None] - state.theta[None, :]
        kappa = 1.0 / np.sqrt(1.0 + np.pi * d / 8.0)
        p = _sigmoid(kappa * diff)
        w = kappa * p * (1.0 - p)
    if criterion == "entropy":
        gain: FloatArray = np.log1p(w * d)
    else:
        gain = w * q / (1.0 + w * d)
    np.fill_diagonal(gain, 0.0)
    return gain
