"""The mathematics behind grade projection: a cumulative-logit model with measurement error.

Grades (categories) ``0..M-1`` are ordered; ``M-1`` cut-points ``c_0 < ... < c_{M-2}`` split
the ability axis into bands. An essay with *true* ability ``t`` receives category ``<= m`` with

    P(Y <= m | t) = sigmoid(beta * (c_m - t)),

the proportional-odds model (McCullagh 1980). Abilities are only known up to their BT standard
error, ``t ~ N(theta_hat, se^2)``, so the probability we need is the convolution

    F_m(theta_hat, se) = E[sigmoid(beta * (c_m - t))] = P(t + L / beta <= c_m),  L ~ Logistic.

We evaluate it with a normal scale-mixture approximation of the logistic CDF,
``sigmoid(x) ~= sum_j w_j Phi(a_j x)`` (the approach of Monahan & Stefanski 1992; the five
weights/scales below were fitted by least squares for this project, max abs error 6.8e-7 over
the real line), which makes the Gaussian integral exact:

    F_m = sum_j w_j Phi(a_j beta (c_m - theta_hat) / sqrt(1 + a_j^2 beta^2 se^2)).

Gauss-Hermite quadrature would need very many nodes when ``beta * se`` is large (the integrand is
then a step compared with the node spacing); the mixture has no such failure mode.

The fit works on standardised anchor abilities (``z = (theta - centre) / scale``) so that the
weak prior below is stated in units that do not depend on how spread out a judge's scale is.
Parameters (unconstrained): ``c_0``, log-gaps ``g_k = log(c_{k+1} - c_k)``, ``log kappa`` (the
population's spread in z units) and ``log beta``.

Prior (all Gaussian on the unconstrained parameters):

- ``g_k ~ N(log kappa + log dq_k, gap_sd^2)`` where ``dq_k = q_{k+1} - q_k`` and
  ``q = Phi^-1(cumulative population priors)``: a priori, cut-points sit at the population
  quantiles of a normal ability distribution with spread ``kappa``;
- ``log kappa ~ N(0, spread_sd^2)`` (anchors spread roughly like the population);
- ``log(beta * kappa) ~ N(log(sharpness / mean(dq)), slope_sd^2)``;
- ``c_0 ~ N(q_0, location_sd^2)`` (very weak; the anchors fix the location).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import log_ndtr, logsumexp, ndtr, ndtri
from scipy.stats import qmc

__all__ = [
    "PriorSettings",
    "category_probabilities",
    "cumulative_probabilities",
    "laplace_points",
    "negative_log_posterior",
    "prior_quantiles",
    "unpack_cuts",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

# sigmoid(x) ~= sum_j _MIX_W[j] * Phi(_MIX_A[j] * x); max abs error 6.8e-7 (tests check it).
_MIX_W = np.array([0.02399869, 0.20839792, 0.42767129, 0.29495675, 0.04497536])
_MIX_W = _MIX_W / _MIX_W.sum()
_MIX_A = np.array([0.29241878, 0.41180464, 0.57643661, 0.80308108, 1.1209068])
_LOG_FLOOR = 1e-300
_SOBOL_SEED = 20261121


@dataclass(frozen=True)
class PriorSettings:
    """Resolved prior for one fit (z units). See the module docstring."""

    q: FloatArray
    gap_centre: FloatArray
    slope_centre: float
    gap_sd: float
    spread_sd: float
    slope_sd: float
    location_sd: float


def prior_quantiles(population: FloatArray, below_lowest: bool) -> FloatArray:
    """Population quantiles ``q`` (length M-1) of the cut-points in population-SD units.

    With a below-lowest category, it is given the population share of the lowest grade (then
    all shares are renormalised): a priori the lowest named grade is a band of ordinary width.
    """
    shares = np.asarray(population, dtype=np.float64)
    if below_lowest:
        shares = np.concatenate([shares[:1], shares])
    shares = shares / shares.sum()
    cumulative = np.cumsum(shares)[:-1]
    return np.asarray(ndtri(cumulative), dtype=np.float64)


def unpack_cuts(params: FloatArray, n_cuts: int) -> FloatArray:
    """Cut-points from ``[c_0, g_1..g_{n_cuts-1}, ...]`` (ordered by construction)."""
    gaps = np.exp(params[1:n_cuts])
    return np.asarray(params[0] + np.concatenate([[0.0], np.cumsum(gaps)]), dtype=np.float64)


def _mixture_terms(
    cuts: FloatArray, beta: float, theta: FloatArray, se: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``x = c - theta`` (n, C), ``d`` (n, 1, J) and ``u`` (n, C, J) of the mixture formula."""
    x = cuts[None, :] - theta[:, None]
    a = _MIX_A[None, None, :]
    d = np.sqrt(1.0 + (a * beta * se[:, None, None]) ** 2)
    u = a * beta * x[:, :, None] / d
    return x, d, u


def cumulative_probabilities(
    cuts: FloatArray, beta: float, theta: FloatArray, se: FloatArray
) -> FloatArray:
    """``F[i, m] = P(Y_i <= m)`` for every essay and cut-point, integrated over the SE."""
    _, _, u = _mixture_terms(cuts, beta, theta, se)
    return np.asarray(ndtr(u) @ _MIX_W, dtype=np.float64)


def category_probabilities(
    cuts: FloatArray, beta: float, theta: FloatArray, se: FloatArray
) -> FloatArray:
    """``P[i, m] = P(Y_i = m)`` (n, M); rows sum to one and are non-negative."""
    cum = cumulative_probabilities(cuts, beta, theta, se)
    n = cum.shape[0]
    padded = np.concatenate([np.zeros((n, 1)), cum, np.ones((n, 1))], axis=1)
    probs = np.clip(np.diff(padded, axis=1), 0.0, None)
    return np.asarray(probs / probs.sum(axis=1, keepdims=True), dtype=np.float64)


def _log_prior_and_grad(
    params: FloatArray, n_cuts: int, ps: PriorSettings
) -> tuple[float, FloatArray]:
    """Negative log prior and its gradient."""
    grad = np.zeros_like(params)
    c0 = params[0]
    g = params[1:n_cuts]
    log_kappa = params[n_cuts]
    log_beta = params[n_cuts + 1]
    value = 0.5 * ((c0 - ps.q[0]) / ps.location_sd) ** 2
    grad[0] = (c0 - ps.q[0]) / ps.location_sd**2
    r_gap = g - log_kappa - np.log(ps.gap_centre)
    value += 0.5 * float(np.sum(r_gap**2)) / ps.gap_sd**2
    grad[1:n_cuts] = r_gap / ps.gap_sd**2
    r_slope = log_beta + log_kappa - np.log(ps.slope_centre)
    value += 0.5 * log_kappa**2 / ps.spread_sd**2 + 0.5 * r_slope**2 / ps.slope_sd**2
    grad[n_cuts] = (
        -float(np.sum(r_gap)) / ps.gap_sd**2
        + log_kappa / ps.spread_sd**2
        + r_slope / ps.slope_sd**2
    )
    grad[n_cuts + 1] = r_slope / ps.slope_sd**2
    return float(value), grad


def _log_category_probability(
    log_cdf: FloatArray, log_sf: FloatArray, category: IntArray, n_cuts: int
) -> FloatArray:
    """``log P(Y_i = category_i)`` from ``log F`` and ``log (1 - F)`` at every cut-point.

    ``P = F_hi - F_lo`` is formed from the lower tail when ``F_lo < 1/2`` and as
    ``S_lo - S_hi`` from the upper tail otherwise, so a grossly misplaced anchor has a finite
    log-likelihood and gradient instead of an underflow to zero.
    """
    n = category.size
    rows = np.arange(n)
    ninf = np.full((n, 1), -np.inf)
    zero = np.zeros((n, 1))
    lcdf = np.concatenate([ninf, log_cdf, zero], axis=1)  # F(-inf) = 0, F(+inf) = 1
    lsf = np.concatenate([zero, log_sf, ninf], axis=1)
    lo_cdf, hi_cdf = lcdf[rows, category], lcdf[rows, category + 1]
    lo_sf, hi_sf = lsf[rows, category], lsf[rows, category + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        from_lower = hi_cdf + np.log1p(-np.exp(lo_cdf - hi_cdf))
        from_upper = lo_sf + np.log1p(-np.exp(hi_sf - lo_sf))
    out = np.where(lo_cdf < np.log(0.5), from_lower, from_upper)
    return np.asarray(np.maximum(out, np.log(_LOG_FLOOR)), dtype=np.float64)


def negative_log_posterior(
    params: FloatArray,
    z: FloatArray,
    se_z: FloatArray,
    category: IntArray,
    prior: PriorSettings,
) -> tuple[float, FloatArray]:
    """Negative log posterior of the anchors' categories and its analytic gradient.

    ``params = [c_0, g_1..g_{C-1}, log kappa, log beta]`` with ``C = M - 1`` cut-points.
    """
    n_cuts = prior.q.size
    cuts = unpack_cuts(params, n_cuts)
    beta = float(np.exp(params[n_cuts + 1]))
    x, d, u = _mixture_terms(cuts, beta, z, se_z)
    log_w = np.log(_MIX_W)
    log_cdf = logsumexp(log_ndtr(u) + log_w, axis=2)
    log_sf = logsumexp(log_ndtr(-u) + log_w, axis=2)
    log_p = _log_category_probability(log_cdf, log_sf, category, n_cuts)
    value = -float(np.sum(log_p))
    # w_j * phi(u) / P_i, kept in log space until the ratio is formed.
    log_dens = log_w - 0.5 * u**2 - 0.5 * np.log(2.0 * np.pi)
    ratio = np.exp(log_dens - log_p[:, None, None])
    d_cut = (ratio * (_MIX_A * beta / d)).sum(axis=2)  # (dF/dc_m) / P_i
    d_logb = (ratio * (_MIX_A / d**3)).sum(axis=2) * x * beta  # (dF/dlog beta) / P_i
    n = z.size
    rows = np.arange(n)
    upper = category < n_cuts  # the category has an upper cut-point c_category
    lower = category > 0  # ... and a lower one c_{category-1}
    lo = category[lower] - 1
    grad_cut = np.zeros(n_cuts)
    np.add.at(grad_cut, category[upper], -d_cut[rows[upper], category[upper]])
    np.add.at(grad_cut, lo, d_cut[rows[lower], lo])
    dlogp_logb = np.zeros(n)
    dlogp_logb[upper] += d_logb[rows[upper], category[upper]]
    dlogp_logb[lower] -= d_logb[rows[lower], lo]
    grad = np.zeros_like(params)
    grad[0] = grad_cut.sum()
    # c_m depends on g_k (k = 1..C-1) for every m >= k, with dc_m/dg_k = exp(g_k).
    tail = np.cumsum(grad_cut[::-1])[::-1]
    grad[1:n_cuts] = np.exp(params[1:n_cuts]) * tail[1:]
    grad[n_cuts + 1] = -float(np.sum(dlogp_logb))
    prior_value, prior_grad = _log_prior_and_grad(params, n_cuts, prior)
    return value + prior_value, grad + prior_grad


def _normal_points(dim: int) -> FloatArray:
    """64 fixed standard-normal points in ``dim`` dimensions: 32 scrambled-Sobol points (a
    seeded local generator, so results are reproducible) and their mirror images, so the
    sample mean is exactly zero."""
    sobol = qmc.Sobol(dim, scramble=True, seed=np.random.default_rng(_SOBOL_SEED))
    half = ndtri(sobol.random_base2(5))
    return np.asarray(np.concatenate([half, -half]), dtype=np.float64)


def laplace_points(
    mode: FloatArray,
    z: FloatArray,
    se_z: FloatArray,
    category: IntArray,
    prior: PriorSettings,
) -> FloatArray:
    """Parameter points that carry the posterior's uncertainty into projections.

    A Laplace approximation in the coordinates the anchors inform directly, the cut-point
    *positions* (plus log kappa and log beta): ``N(mode, H^-1)`` where ``H = J' H_p J`` is the
    Hessian of the negative log posterior at the mode (``H_p`` by central differences of the
    analytic gradient in the unconstrained parameters, ``J`` their derivative with respect to
    the positions), represented by 64 fixed quasi-random points. Each point's cut-points are
    sorted (a draw that swaps two neighbouring cuts is read as the ordered model) and mapped
    back to the unconstrained parameters.

    Why positions: in log-gap coordinates the same approximation turns symmetric uncertainty
    about band widths into a systematic upward drift of the upper cut-points (a sum of
    log-normals), which halved the leave-one-anchor-out accuracy in simulations.
    """
    n_cuts = prior.q.size
    p = mode.size
    step = 1e-5
    hess_p = np.empty((p, p))
    for k in range(p):
        e = np.zeros(p)
        e[k] = step
        up = negative_log_posterior(mode + e, z, se_z, category, prior)[1]
        down = negative_log_posterior(mode - e, z, se_z, category, prior)[1]
        hess_p[:, k] = (up - down) / (2.0 * step)
    hess_p = 0.5 * (hess_p + hess_p.T)
    cuts = unpack_cuts(mode, n_cuts)
    gaps = np.diff(cuts)
    jac = np.eye(p)  # d(params)/d(positions, log kappa, log beta)
    for k in range(1, n_cuts):  # g_k = log(c_k - c_{k-1})
        jac[k, k - 1 : k + 1] = [-1.0 / gaps[k - 1], 1.0 / gaps[k - 1]]
    hess = jac.T @ hess_p @ jac
    # Positive definite at a mode; clip eigenvalues against rounding all the same.
    values, vectors = np.linalg.eigh(0.5 * (hess + hess.T))
    values = np.maximum(values, 1e-8 * max(1.0, float(values.max())))
    root = vectors / np.sqrt(values)  # root @ root.T == H^-1
    draws = np.concatenate([cuts, mode[n_cuts:]]) + _normal_points(p) @ root.T
    drawn_cuts = np.sort(draws[:, :n_cuts], axis=1)
    drawn_gaps = np.maximum(np.diff(drawn_cuts, axis=1), 1e-9)
    return np.asarray(
        np.concatenate([drawn_cuts[:, :1], np.log(drawn_gaps), draws[:, n_cuts:]], axis=1),
        dtype=np.float64,
    )
