"""Bradley-Terry maximum-likelihood fitting on integer-indexed pairwise data.

Model: for comparison ``k`` with item ``a[k]`` in the first (A) slot and ``b[k]`` in the second,

    P(a beats b) = sigmoid(theta[a] - theta[b] + gamma * position_known[k])

where ``gamma`` is an optional first-position (A-slot) effect. Outcomes ``y[k]`` are the observed
probability that ``a`` won: 1 or 0 for hard decisions, 0.5 for a tie. Their log-likelihood is
the weighted Bernoulli cross-entropy. Comparisons flagged ``soft`` (a judge's stated
probability: LLM confidence, token probabilities) enter through their logit instead,
``logit(y) ~ N(theta[a] - theta[b] + gamma, sigma^2)`` with the noise variance estimated
(:mod:`cjgrade.stats.soft_outcomes`). Both parts are concave in (theta, gamma); an optional
Gaussian prior ``-alpha/2 * |theta|^2`` makes the sum strictly concave.

Without a prior theta is identified only up to a constant: we impose ``sum(theta) == 0``, and the
standard errors are the square roots of the diagonal of the pseudo-inverse of the Fisher
information in that subspace, so every item has a real SE (no reference item with SE 0).

References: Bradley & Terry (1952); Hunter (2004) "MM algorithms for generalized Bradley-Terry
models"; Agresti, *Categorical Data Analysis*, ch. 11.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csgraph, csr_matrix
from scipy.special import expit

from cjgrade.errors import ConvergenceError, InputError
from cjgrade.stats.bt_soft import (
    estimate_soft_variance,
    group_terms,
    soft_residual_ss,
    soft_weight,
)
from cjgrade.stats.btsolver import (
    POSITION_PRIOR_PRECISION,
    AggregatedPairs,
    Information,
    aggregate_pairs,
    information_diagonal,
    weighted_count,
)
from cjgrade.stats.soft_outcomes import NOISE_PRIOR_VARIANCE

__all__ = ["BTFit", "PairwiseData", "fit_bradley_terry"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class PairwiseData:
    """Pairwise comparisons on items ``0..n_items-1``.

    Attributes
    ----------
    n_items : number of items (some may have no comparisons).
    a, b : item indices; ``a`` is the first-named item (the A slot when ``position_known``).
    y : observed probability that ``a`` beat ``b`` (1, 0, 0.5 for ties, or soft in between).
    position_known : whether ``a`` really was shown in the A slot; only those comparisons inform
        the first-position effect.
    judge : judge index per comparison (``-1`` when unknown).
    weight : non-negative weight per comparison (default 1).
    soft : comparisons whose ``y`` is a judge's stated probability, modelled on its logit with
        estimated noise (:mod:`cjgrade.stats.soft_outcomes`); the others (default: all) are
        Bernoulli outcomes (wins, losses, ties as 0.5).
    """

    n_items: int
    a: IntArray
    b: IntArray
    y: FloatArray
    position_known: BoolArray
    judge: IntArray
    weight: FloatArray
    soft: BoolArray

    @classmethod
    def build(
        cls,
        n_items: int,
        a: object,
        b: object,
        y: object | None = None,
        *,
        position_known: object | None = None,
        judge: object | None = None,
        weight: object | None = None,
        soft: object | None = None,
    ) -> PairwiseData:
        """Validate and build. ``y`` defaults to 1 (``a`` won every comparison), ``soft`` to
        none soft."""
        a_arr = np.asarray(a, dtype=np.intp).ravel()
        b_arr = np.asarray(b, dtype=np.intp).ravel()
        m = a_arr.size
        if b_arr.size != m:
            raise InputError(f"a and b differ in length ({m} vs {b_arr.size})")
        y_arr = np.ones(m) if y is None else np.asarray(y, dtype=np.float64).ravel()
        pk = (
            np.zeros(m, dtype=np.bool_)
            if position_known is None
            else np.asarray(position_known, dtype=np.bool_).ravel()
        )
        j = (
            np.full(m, -1, dtype=np.intp)
            if judge is None
            else np.asarray(judge, dtype=np.intp).ravel()
        )
        w = np.ones(m) if weight is None else np.asarray(weight, dtype=np.float64).ravel()
        sf = (
            np.zeros(m, dtype=np.bool_)
            if soft is None
            else np.asarray(soft, dtype=np.bool_).ravel()
        )
        for name, arr in (
            ("y", y_arr), ("position_known", pk), ("judge", j), ("weight", w), ("soft", sf)
        ):
            if arr.size != m:
                raise InputError(f"{name} has length {arr.size}, expected {m}")
        if n_items < 1:
            raise InputError("n_items must be at least 1")
        if m and (min(a_arr.min(), b_arr.min()) < 0 or max(a_arr.max(), b_arr.max()) >= n_items):
            raise InputError(f"item index out of range 0..{n_items - 1}")
        if np.any(a_arr == b_arr):
            k = int(np.flatnonzero(a_arr == b_arr)[0])
            raise InputError(f"comparison {k} compares item {int(a_arr[k])} with itself")
        if not np.all(np.isfinite(y_arr)) or np.any((y_arr < 0) | (y_arr > 1)):
            raise InputError("outcomes y must be probabilities in [0, 1]")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise InputError("weights must be finite and non-negative")
        return cls(n_items, a_arr, b_arr, y_arr, pk, j, w, sf)

    @property
    def n_comparisons(self) -> int:
        return int(self.a.size)

    @property
    def has_soft(self) -> bool:
        """Whether any comparison with positive weight is a soft outcome."""
        return bool(np.any(self.soft & (self.weight > 0)))


SEMethod = Literal["fisher", "diagonal", "none"]


@dataclass(frozen=True)
class BTFit:
    """Result of :func:`fit_bradley_terry`.

    Attributes
    ----------
    theta : abilities on the logit scale, centred to sum to zero when ``alpha == 0``.
    se : standard error of each theta. ``se_method="fisher"``: square root of the diagonal of
        the inverse Fisher information, sum-to-zero constrained when ``alpha == 0`` (posterior
        curvature when ``alpha > 0``). ``"diagonal"``: ``1/sqrt`` of the information's diagonal
        (sirt's ``se.theta``; ignores the opponents' uncertainty, so slightly too small).
        ``"none"``: NaN.
    position_effect : estimated first-position (A-slot) log-odds advantage, or None.
    position_se : its standard error, or None.
    log_likelihood : log-likelihood of the observed outcomes at the estimate (no prior term,
        no score adjustment).
    n_iter : Newton iterations used.
    alpha : the Gaussian prior precision used.
    isolated : items with no comparisons.
    extreme : items that won or lost every comparison they took part in.
    components : number of connected components of the comparison graph (items with no
        comparisons excluded).
    eps : the score adjustment used (0 = plain maximum likelihood).
    se_method : how ``se`` was computed.
    soft_variance : noise variance of the soft outcomes' logits (estimated or given), or None
        without soft outcomes.
    n_soft : total weight (count) of the soft comparisons.
    """

    theta: FloatArray
    se: FloatArray
    position_effect: float | None
    position_se: float | None
    log_likelihood: float
    n_iter: int
    alpha: float
    isolated: tuple[int, ...] = field(default=())
    extreme: tuple[int, ...] = field(default=())
    components: int = 1
    eps: float = 0.0
    se_method: str = "fisher"
    soft_variance: float | None = None
    n_soft: int = 0


def _component_labels(agg: AggregatedPairs) -> IntArray:
    n = agg.n_items
    graph = csr_matrix((np.ones(agg.indices.size), agg.indices, agg.indptr), shape=(n, n))
    _, labels = csgraph.connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.intp)


def _scores(agg: AggregatedPairs) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weighted Bernoulli score (wins, ties as halves) and count per item, and the count of
    all comparisons (soft ones included)."""
    n = agg.n_items
    w_hard = np.where(agg.soft, 0.0, agg.w) if agg.has_soft else agg.w
    wy = w_hard * agg.y
    score = weighted_count(agg.a, wy, n) + weighted_count(agg.b, w_hard - wy, n)
    count = weighted_count(agg.a, w_hard, n) + weighted_count(agg.b, w_hard, n)
    if not agg.has_soft:
        return score, count, count
    total = weighted_count(agg.a, agg.w, n) + weighted_count(agg.b, agg.w, n)
    return score, count, total


def _check_identified(
    agg: AggregatedPairs,
    count: FloatArray,
    total: FloatArray,
    score: FloatArray,
    alpha: float,
    eps: float,
    labels_of: Sequence[str] | None,
) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Return (isolated, extreme, components); raise when the MLE does not exist."""

    def names(idx: Iterable[int]) -> list[str] | list[int]:
        if labels_of is None:
            return [int(i) for i in idx]
        return [labels_of[int(i)] for i in idx]

    active = total > 0
    isolated = tuple(int(i) for i in np.flatnonzero(~active))
    labels = _component_labels(agg)
    comp_ids = np.unique(labels[active])
    n_comp = int(comp_ids.size)
    tiny = 1e-12 * np.maximum(count, 1.0)
    # A soft outcome's quadratic likelihood keeps an ability finite: only items judged by
    # Bernoulli outcomes alone can win or lose everything.
    only_hard = active & (total <= count + tiny)
    extreme_mask = only_hard & ((score <= tiny) | (score >= count - tiny))
    extreme = tuple(int(i) for i in np.flatnonzero(extreme_mask))
    if alpha > 0.0:
        return isolated, extreme, n_comp
    if isolated:
        raise ConvergenceError(
            f"{len(isolated)} item(s) have no comparisons (e.g. items {names(isolated[:10])}); "
            "add comparisons for them or use a prior (alpha > 0)"
        )
    if n_comp > 1:
        groups = [names(np.flatnonzero(labels == c)[:5]) for c in comp_ids[:5]]
        raise ConvergenceError(
            f"the comparison graph has {n_comp} disconnected components (e.g. items "
            f"{groups}); the scale is not identified — add comparisons across them or use a "
            "prior (alpha > 0)"
        )
    if extreme and eps == 0.0:
        raise ConvergenceError(
            f"{len(extreme)} item(s) won or lost every comparison (e.g. items "
            f"{names(extreme[:10])}), so their maximum-likelihood ability is infinite; use a prior "
            "(alpha > 0) or a score adjustment (eps > 0)"
        )
    if eps == 0.0:
        n_strong, strong = _dominance_groups(agg)
        if n_strong > 1:
            groups = [names(np.flatnonzero(strong == c)[:5]) for c in range(min(n_strong, 5))]
            raise ConvergenceError(
                f"the items split into {n_strong} groups where one group won every comparison "
                f"against another (e.g. items {groups}), so the maximum-likelihood abilities are "
                "infinitely far apart; add comparisons between the groups, or use a prior "
                "(alpha > 0) or a score adjustment (eps > 0)"
            )
    return isolated, extreme, n_comp


def _dominance_groups(agg: AggregatedPairs) -> tuple[int, IntArray]:
    """Strongly connected components of the "took a share of the win" digraph.

    The maximum-likelihood estimate exists iff this digraph is strongly connected (Ford 1957):
    otherwise some group of items won every comparison against the rest. A soft comparison
    links its two items both ways (its likelihood is bounded in either direction).
    """
    n = agg.n_items
    a_is_lo = agg.a < agg.b
    a_took = (agg.y > 0.0) | agg.soft
    b_took = (agg.y < 1.0) | agg.soft
    n_pairs = agg.lo.size
    lo_took = np.bincount(agg.pair, np.where(a_is_lo, a_took, b_took), n_pairs) > 0
    hi_took = np.bincount(agg.pair, np.where(a_is_lo, b_took, a_took), n_pairs) > 0
    # Edge lo -> hi when lo took a share against hi, stored in the shared CSR pattern.
    data = np.concatenate([lo_took, hi_took]).astype(np.float64)[agg.perm]
    graph = csr_matrix((data, agg.indices, agg.indptr), shape=(n, n))
    graph.eliminate_zeros()
    count, labels = csgraph.connected_components(graph, directed=True, connection="strong")
    return int(count), np.asarray(labels, dtype=np.intp)


def _adjusted_scores(score: FloatArray, count: FloatArray, eps: float) -> FloatArray:
    """sirt's epsilon adjustment: ``eps + (n - 2 eps) * score / n`` for every compared item."""
    if eps == 0.0:
        return score
    active = count > 0
    if np.any(active & (count <= 2.0 * eps)):
        raise InputError(
            f"eps={eps} is too large for items with total comparison weight <= {2 * eps}; "
            "use a smaller eps"
        )
    ratio = np.divide(score, count, out=np.zeros_like(score), where=active)
    return np.where(active, eps + (count - 2.0 * eps) * ratio, 0.0)


def _starting_point(score: FloatArray, count: FloatArray) -> FloatArray:
    """Log-odds of each item's smoothed win proportion: a cheap start that saves Newton steps."""
    prop = (score + 0.5) / (count + 1.0)
    return np.log(prop) - np.log1p(-prop)


def _objective(
    agg: AggregatedPairs,
    theta: FloatArray,
    gamma: float,
    shift: FloatArray,
    alpha: float,
    soft_variance: float,
) -> float:
    """Penalised log-likelihood plus the linear score-adjustment term (a merit function)."""
    eta = theta[agg.a] - theta[agg.b] + gamma * agg.pk
    if agg.has_soft:
        bern = np.where(agg.soft, 0.0, agg.y * eta - np.logaddexp(0.0, eta))
        gauss = np.where(agg.soft, (agg.y - eta) ** 2, 0.0)
        ll = float(agg.w @ bern) - 0.5 * float(agg.w @ gauss) / soft_variance
    else:
        ll = float(np.sum(agg.w * (agg.y * eta - np.logaddexp(0.0, eta))))
    gamma_penalty = 0.5 * (POSITION_PRIOR_PRECISION if alpha > 0.0 else 0.0) * gamma * gamma
    return ll + float(shift @ theta) - 0.5 * alpha * float(theta @ theta) - gamma_penalty


def fit_bradley_terry(
    data: PairwiseData,
    *,
    alpha: float = 0.0,
    position_effect: bool = False,
    initial_params: FloatArray | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
    eps: float = 0.0,
    se_method: SEMethod = "fisher",
    max_dense_se: int = 6000,
    item_labels: Sequence[str] | None = None,
    soft_variance: float | None = None,
) -> BTFit:
    """Fit the Bradley-Terry model by Newton-Raphson on the aggregated comparison graph.

    Parameters
    ----------
    data : the comparisons.
    alpha : Gaussian prior precision on theta (0 = pure maximum likelihood).
    position_effect : estimate a first-position effect from comparisons with known positions.
    initial_params : warm start for theta (e.g. the previous round's estimates).
    max_iter, tol : Newton iteration limit and convergence tolerance on the max step.
    eps : score adjustment of Bertoli-Barsotti, Lando & Punzo (2014) as in ``sirt::btm``: each
        item's score ``s`` out of ``n`` becomes ``eps + (n - 2 eps) s / n`` (0 = none; sirt's
        default is 0.3). It keeps all-win/all-loss items finite. With ``alpha == 0`` the adjusted
        scores need not add up to the number of comparisons; like sirt we solve
        ``adjusted score - expected score = c * information`` with ``sum(theta) == 0``.
    se_method : ``"fisher"`` (exact, dense: O(n^2) memory), ``"diagonal"`` (sirt-style
        ``1/sqrt(diag(information))``, memory linear) or ``"none"`` (NaN; fastest).
    max_dense_se : refuse ``se_method="fisher"`` above this many items rather than allocate an
        n-by-n matrix silently.
    item_labels : optional names of the items, used only to name them in error messages.
    soft_variance : noise variance ``sigma^2`` of the soft outcomes' logits
        (:mod:`cjgrade.stats.soft_outcomes`); ``None`` estimates it from the data, alternating
        with the abilities until it settles. Ignored without soft outcomes.

    Returns
    -------
    BTFit

    Raises
    ------
    ConvergenceError
        Without a prior, when the comparison graph is disconnected or an item has no
        comparisons, or (without ``eps``) when an item -- or a group of items -- won or lost
        every comparison with the rest; the message names them. Also when Newton-Raphson does
        not converge in ``max_iter`` iterations.
    InputError
        For invalid options.

    References
    ----------
    Bradley & Terry (1952); Hunter (2004); Bertoli-Barsotti, Lando & Punzo (2014) "Estimating a
    Rasch model via fuzzy empirical probability functions"; Robitzsch, ``sirt::btm``.
    """
    if alpha < 0 or not np.isfinite(alpha):
        raise InputError("alpha must be a finite non-negative number")
    if not 0.0 <= eps < 0.5:
        raise InputError("eps must be in [0, 0.5)")
    if max_iter < 1 or not tol > 0:
        raise InputError("max_iter must be at least 1 and tol positive")
    if se_method not in ("fisher", "diagonal", "none"):
        raise InputError(f"unknown se_method {se_method!r}; use fisher, diagonal or none")
    n = data.n_items
    use_gamma = position_effect and bool(np.any(data.position_known & (data.weight > 0)))
    if se_method == "fisher" and n > max_dense_se:
        raise InputError(
            f"exact standard errors for {n} items need a dense {n}x{n} matrix "
            f"({8 * n * n / 1e9:.1f} GB); use the diagonal (memory-linear, sirt-style) standard "
            "errors or none"
        )
    if soft_variance is not None and not (np.isfinite(soft_variance) and soft_variance > 0):
        raise InputError("soft_variance must be a positive number")
    agg = aggregate_pairs(
        n, data.a, data.b, data.y, data.weight, data.position_known, keep_orientation=use_gamma,
        soft=data.soft,
    )
    score, count, total = _scores(agg)
    isolated, extreme, n_comp = _check_identified(
        agg, count, total, score, alpha, eps, item_labels
    )
    s_adj = _adjusted_scores(score, count, eps)
    shift = s_adj - score

    if initial_params is None:
        theta = _starting_point(score, count)
    else:
        theta = np.array(initial_params, dtype=np.float64)
    if theta.shape != (n,) or not np.all(np.isfinite(theta)):
        raise InputError(f"initial_params must be {n} finite numbers")
    if alpha == 0.0:
        theta -= theta.mean()
    newton = _Newton(agg, shift, alpha, eps, use_gamma, max_iter, tol)
    s2 = NOISE_PRIOR_VARIANCE if soft_variance is None else float(soft_variance)
    theta, gamma, n_iter = newton.solve(theta, 0.0, s2)
    if agg.has_soft and soft_variance is None:
        for _ in range(_MAX_NOISE_ITERATIONS):
            new = estimate_soft_variance(agg, theta, gamma, s2, alpha, use_gamma, n_comp,
                                          dense=n <= max_dense_se)
            change = abs(new - s2) / s2
            s2 = new
            theta, gamma, more = newton.solve(theta, gamma, s2)
            n_iter += more
            if change < _NOISE_TOL:
                break
    return _finish(
        agg, theta, gamma, alpha, eps, use_gamma, se_method, n_iter, isolated, extreme, n_comp,
        s2,
    )


_MAX_NOISE_ITERATIONS = 100
_NOISE_TOL = 1e-7

def _gamma_alpha(alpha: float, use_gamma: bool) -> float:
    return POSITION_PRIOR_PRECISION if use_gamma and alpha > 0.0 else 0.0


@dataclass(frozen=True)
class _Newton:
    """Newton-Raphson on the abilities (and position effect) at a fixed soft-outcome noise."""

    agg: AggregatedPairs
    shift: FloatArray
    alpha: float
    eps: float
    use_gamma: bool
    max_iter: int
    tol: float

    def solve(self, theta: FloatArray, gamma: float, s2: float) -> tuple[FloatArray, float, int]:
        agg, alpha, n = self.agg, self.alpha, self.agg.n_items
        a, b, pk = agg.a, agg.b, agg.pk
        step_size = float("inf")
        for n_iter in range(1, self.max_iter + 1):
            resid, v = group_terms(agg, theta, gamma, s2)
            g_alpha = _gamma_alpha(alpha, self.use_gamma)
            info = Information(agg, v, alpha, use_gamma=self.use_gamma, gamma_alpha=g_alpha)
            grad = self.shift + weighted_count(a, resid, n) - weighted_count(b, resid, n)
            grad -= alpha * theta
            if alpha == 0.0 and self.eps > 0.0:
                # sirt's fixed point: the adjusted scores' surplus is spread by information.
                grad -= (grad.sum() / info.diag.sum()) * info.diag
            if self.use_gamma:
                grad = np.append(grad, float(resid @ pk) - g_alpha * gamma)
            # Inexact Newton: loose linear solves far from the optimum, tight ones near it.
            rtol = float(np.clip(1e-2 * np.max(np.abs(grad)), 1e-12, 1e-3))
            step = info.solve(grad, rtol=rtol)
            theta, gamma, step_size = _damped_update(
                agg, theta, gamma, step, self.shift, alpha, n, s2
            )
            if step_size < self.tol:
                return theta, gamma, n_iter
        raise ConvergenceError(
            f"Newton-Raphson did not converge in {self.max_iter} iterations (last step "
            f"{step_size:.3g}); raise the iteration limit or use a prior (alpha > 0)"
        )


def _damped_update(
    agg: AggregatedPairs,
    theta: FloatArray,
    gamma: float,
    step: FloatArray,
    shift: FloatArray,
    alpha: float,
    n: int,
    soft_variance: float,
) -> tuple[FloatArray, float, float]:
    """Take the Newton step, halving it while a large step lowers the objective.

    Only steps longer than 0.5 logits are checked: near the solution Newton's full step is
    right, and with ``eps`` (sirt's fixed point) the step is not an exact ascent direction of
    the merit function, so checking small steps would stall the iteration.
    """
    size = float(np.max(np.abs(step))) if step.size else 0.0
    if size > 0.5:
        f0 = _objective(agg, theta, gamma, shift, alpha, soft_variance)
        for _ in range(30):
            new_t = theta + step[:n]
            new_g = gamma + (float(step[n]) if step.size > n else 0.0)
            f1 = _objective(agg, new_t, new_g, shift, alpha, soft_variance)
            if f1 >= f0 - 1e-10 * (1.0 + abs(f0)):
                break
            step = 0.5 * step
    new_theta = theta + step[:n]
    if alpha == 0.0:
        new_theta -= new_theta.mean()
    new_gamma = gamma + (float(step[n]) if step.size > n else 0.0)
    return new_theta, new_gamma, float(np.max(np.abs(step))) if step.size else 0.0


def _finish(
    agg: AggregatedPairs,
    theta: FloatArray,
    gamma: float,
    alpha: float,
    eps: float,
    use_gamma: bool,
    se_method: SEMethod,
    n_iter: int,
    isolated: tuple[int, ...],
    extreme: tuple[int, ...],
    n_comp: int,
    soft_variance: float,
) -> BTFit:
    n = agg.n_items
    _, v = group_terms(agg, theta, gamma, soft_variance)
    if se_method == "fisher":
        var_t, var_g = Information(
            agg, v, alpha, use_gamma=use_gamma, gamma_alpha=_gamma_alpha(alpha, use_gamma)
        ).covariance_diagonal()
        se = np.sqrt(np.clip(var_t, 0.0, None))
        gamma_se = float(np.sqrt(max(var_g, 0.0)))
    elif se_method == "diagonal":
        se = 1.0 / np.sqrt(information_diagonal(agg, v, alpha))
        hgg = float(np.sum(v * agg.pk)) + _gamma_alpha(alpha, use_gamma)
        gamma_se = 1.0 / np.sqrt(hgg) if hgg > 0 else float("nan")
    else:
        se = np.full(n, np.nan)
        gamma_se = float("nan")
    ll = _log_likelihood(agg, theta, gamma, soft_variance)
    return BTFit(
        theta=theta,
        se=se,
        position_effect=gamma if use_gamma else None,
        position_se=gamma_se if use_gamma else None,
        log_likelihood=ll,
        n_iter=n_iter,
        alpha=alpha,
        isolated=isolated,
        extreme=extreme,
        components=n_comp,
        eps=eps,
        se_method=se_method,
        soft_variance=soft_variance if agg.has_soft else None,
        n_soft=round(soft_weight(agg)) if agg.has_soft else 0,
    )


def _log_likelihood(
    agg: AggregatedPairs, theta: FloatArray, gamma: float, soft_variance: float
) -> float:
    """Bernoulli log-probabilities plus the Gaussian log-densities of the soft logits."""
    eta = theta[agg.a] - theta[agg.b] + gamma * agg.pk
    p = expit(eta)
    tiny = 1e-300
    bern = agg.y * np.log(p + tiny) + (1.0 - agg.y) * np.log(1.0 - p + tiny)
    if not agg.has_soft:
        return float(np.sum(agg.w * bern))
    ll = float(agg.w @ np.where(agg.soft, 0.0, bern))
    w_soft = soft_weight(agg)
    rss = soft_residual_ss(agg, theta, gamma)
    return ll - 0.5 * (rss / soft_variance + w_soft * math.log(2.0 * math.pi * soft_variance))
