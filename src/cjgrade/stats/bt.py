"""Bradley-Terry maximum-likelihood fitting on integer-indexed pairwise data.

Model: for comparison ``k`` with item ``a[k]`` in the first (A) slot and ``b[k]`` in the second,

    P(a beats b) = sigmoid(theta[a] - theta[b] + gamma * position_known[k])

where ``gamma`` is an optional first-position (A-slot) effect. Outcomes ``y[k]`` are the observed
probability that ``a`` won: 1 or 0 for hard decisions, 0.5 for a tie, anything in between for a
soft outcome (LLM confidence, token probabilities). The log-likelihood is the weighted
Bernoulli cross-entropy, which is concave in (theta, gamma); an optional Gaussian prior
``-alpha/2 * |theta|^2`` makes it strictly concave.

Without a prior theta is identified only up to a constant: we impose ``sum(theta) == 0``, and the
standard errors are the square roots of the diagonal of the pseudo-inverse of the Fisher
information in that subspace, so every item has a real SE (no reference item with SE 0).

References: Bradley & Terry (1952); Hunter (2004) "MM algorithms for generalized Bradley-Terry
models"; Agresti, *Categorical Data Analysis*, ch. 11.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csgraph, csr_matrix

from cjgrade.errors import ConvergenceError, InputError

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
    """

    n_items: int
    a: IntArray
    b: IntArray
    y: FloatArray
    position_known: BoolArray
    judge: IntArray
    weight: FloatArray

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
    ) -> PairwiseData:
        """Validate and build. ``y`` defaults to 1 (``a`` won every comparison)."""
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
        j = np.full(m, -1, dtype=np.intp) if judge is None else np.asarray(judge, dtype=np.intp)
        w = np.ones(m) if weight is None else np.asarray(weight, dtype=np.float64).ravel()
        for name, arr in (("y", y_arr), ("position_known", pk), ("judge", j), ("weight", w)):
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
        return cls(n_items, a_arr, b_arr, y_arr, pk, j, w)

    @property
    def n_comparisons(self) -> int:
        return int(self.a.size)


@dataclass(frozen=True)
class BTFit:
    """Result of :func:`fit_bradley_terry`.

    Attributes
    ----------
    theta : abilities on the logit scale, centred to sum to zero when ``alpha == 0``.
    se : standard error of each theta (from the Fisher information; sum-to-zero constrained
        when ``alpha == 0``, posterior curvature when ``alpha > 0``).
    position_effect : estimated first-position (A-slot) log-odds advantage, or None.
    position_se : its standard error, or None.
    log_likelihood : log-likelihood at the optimum (without the prior term).
    n_iter : Newton iterations used.
    alpha : the Gaussian prior precision used.
    isolated : items with no comparisons.
    extreme : items that won or lost every comparison they took part in.
    components : number of connected components of the comparison graph (items with no
        comparisons excluded).
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


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def _components(data: PairwiseData, active: BoolArray) -> tuple[int, IntArray]:
    graph = csr_matrix(
        (np.ones(data.n_comparisons), (data.a, data.b)), shape=(data.n_items, data.n_items)
    )
    _, labels = csgraph.connected_components(graph, directed=False)
    labels = np.asarray(labels, dtype=np.intp)
    comp_ids = np.unique(labels[active])
    return int(comp_ids.size), labels


def _extreme_items(data: PairwiseData) -> IntArray:
    """Items whose (weighted) score is 0 or equal to their number of comparisons."""
    n = data.n_items
    score = np.bincount(data.a, data.weight * data.y, n) + np.bincount(
        data.b, data.weight * (1.0 - data.y), n
    )
    count = np.bincount(data.a, data.weight, n) + np.bincount(data.b, data.weight, n)
    mask = (count > 0) & ((score <= 1e-12) | (score >= count - 1e-12))
    return np.flatnonzero(mask).astype(np.intp)


def fit_bradley_terry(
    data: PairwiseData,
    *,
    alpha: float = 0.0,
    position_effect: bool = False,
    initial_params: FloatArray | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> BTFit:
    """Fit the Bradley-Terry model by Newton-Raphson.

    Parameters
    ----------
    data : the comparisons.
    alpha : Gaussian prior precision on theta (0 = pure maximum likelihood).
    position_effect : estimate a first-position effect from comparisons with known positions.
    initial_params : warm start for theta (e.g. the previous round's estimates).
    max_iter, tol : Newton iteration limit and convergence tolerance on the max step.

    Returns
    -------
    BTFit

    Raises
    ------
    ConvergenceError
        Without a prior, when the comparison graph is disconnected or an item won or lost all
        its comparisons (the MLE does not exist); the message names the items/components.
    """
    if alpha < 0:
        raise InputError("alpha must be non-negative")
    n = data.n_items
    counts = np.bincount(data.a, minlength=n) + np.bincount(data.b, minlength=n)
    active = counts > 0
    isolated = tuple(int(i) for i in np.flatnonzero(~active))
    n_comp, labels = _components(data, active)
    extreme = tuple(int(i) for i in _extreme_items(data))
    if alpha == 0.0:
        if isolated:
            raise ConvergenceError(
                f"items {list(isolated)[:10]} have no comparisons; add comparisons or use a "
                "prior (alpha > 0)"
            )
        if n_comp > 1:
            groups = [np.flatnonzero(labels == c)[:5].tolist() for c in np.unique(labels)][:5]
            raise ConvergenceError(
                f"comparison graph has {n_comp} disconnected components (e.g. items {groups}); "
                "the scale is not identified — add comparisons across them or use a prior"
            )
        if extreme:
            raise ConvergenceError(
                f"items {list(extreme)[:10]} won or lost every comparison, so their maximum-"
                "likelihood ability is infinite; use a prior (alpha > 0) or a score adjustment"
            )

    pk = data.position_known.astype(np.float64)
    use_gamma = position_effect and bool(pk.any())
    theta = np.zeros(n) if initial_params is None else np.array(initial_params, dtype=np.float64)
    if theta.shape != (n,):
        raise InputError(f"initial_params must have shape ({n},)")
    if alpha == 0.0:
        theta -= theta.mean()
    gamma = 0.0
    w, y, a, b = data.weight, data.y, data.a, data.b
    n_par = n + (1 if use_gamma else 0)

    def info_matrix(p: FloatArray) -> FloatArray:
        v = w * p * (1.0 - p)
        h = np.zeros((n_par, n_par))
        np.add.at(h, (a, a), v)
        np.add.at(h, (b, b), v)
        np.add.at(h, (a, b), -v)
        np.add.at(h, (b, a), -v)
        if use_gamma:
            vg = v * pk
            g_col = np.bincount(a, vg, n) - np.bincount(b, vg, n)
            h[:n, n] = g_col
            h[n, :n] = g_col
            h[n, n] = vg.sum()
        h[:n, :n] += alpha * np.eye(n)
        return h

    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        p = _sigmoid(theta[a] - theta[b] + gamma * pk)
        r = w * (y - p)
        grad = np.bincount(a, r, n) - np.bincount(b, r, n) - alpha * theta
        if use_gamma:
            grad = np.append(grad, float((r * pk).sum()))
        h = info_matrix(p)
        if alpha == 0.0:
            # Fix the constant direction by adding the projector onto it.
            h[:n, :n] += 1.0 / n
        try:
            step = np.linalg.solve(h, grad)
        except np.linalg.LinAlgError as exc:  # pragma: no cover - guarded by checks above
            raise ConvergenceError(f"singular information matrix: {exc}") from exc
        theta = theta + step[:n]
        if use_gamma:
            gamma += float(step[n])
        if alpha == 0.0:
            theta -= theta.mean()
        if float(np.max(np.abs(step))) < tol:
            break
    else:
        raise ConvergenceError(f"Newton-Raphson did not converge in {max_iter} iterations")

    p = _sigmoid(theta[a] - theta[b] + gamma * pk)
    h = info_matrix(p)
    if alpha == 0.0:
        cov = np.linalg.pinv(h[:n, :n] + 1.0 / n) - 1.0 / n if not use_gamma else None
        if use_gamma:
            full = h.copy()
            full[:n, :n] += 1.0 / n
            inv = np.linalg.inv(full)
            # Remove the constant direction from the theta block.
            centre = np.eye(n) - 1.0 / n
            cov_t = centre @ inv[:n, :n] @ centre
            se = np.sqrt(np.clip(np.diag(cov_t), 0.0, None))
            gamma_se = float(np.sqrt(inv[n, n]))
        else:
            assert cov is not None
            se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
            gamma_se = None
    else:
        inv = np.linalg.inv(h)
        se = np.sqrt(np.clip(np.diag(inv)[:n], 0.0, None))
        gamma_se = float(np.sqrt(inv[n, n])) if use_gamma else None
    eps = 1e-300
    ll = float(np.sum(w * (y * np.log(p + eps) + (1.0 - y) * np.log(1.0 - p + eps))))
    return BTFit(
        theta=theta,
        se=se,
        position_effect=gamma if use_gamma else None,
        position_se=gamma_se,
        log_likelihood=ll,
        n_iter=n_iter,
        alpha=alpha,
        isolated=isolated,
        extreme=extreme,
        components=n_comp,
    )
