"""Linear algebra behind the Bradley-Terry Newton iterations.

The Fisher information of the BT model is a weighted graph Laplacian ``L`` (plus ``alpha * I``
for a Gaussian prior, plus one extra row/column for the first-position effect). Everything here
works on *aggregated* comparisons (one row per distinct ordered pair and position flag), so the
cost of an iteration is linear in the number of distinct pairs, not of raw decisions.

Two solvers, chosen by size:

- dense Cholesky of ``L + 11'/n`` for small problems (``n <= DENSE_LIMIT``), where LAPACK wins;
- Jacobi-preconditioned conjugate gradients on the sparse operator for large ones; memory stays
  linear in the number of distinct pairs. Comparison graphs from CJ sessions are expanders in
  practice (random or adaptive pairing), so CG needs a few dozen matrix-vector products.

Adding ``11'/n`` to the singular Laplacian makes it positive definite without changing the
solution for right-hand sides orthogonal to the constant vector, and ``inv(L + 11'/n) =
pinv(L) + 11'/n``, which gives the sum-to-zero constrained covariance directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.linalg
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from threadpoolctl import ThreadpoolController

from cjgrade.errors import ConvergenceError
from cjgrade.stats.soft_outcomes import soft_logit

__all__ = [
    "DENSE_LIMIT",
    "POSITION_PRIOR_PRECISION",
    "AggregatedPairs",
    "Information",
    "aggregate_pairs",
    "blas_threads",
    "information_diagonal",
    "weighted_count",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

#: Largest number of parameters for which Newton steps use a dense Cholesky factorisation.
DENSE_LIMIT = 400
#: Below this many parameters dense LAPACK calls run on one BLAS thread: on a shared machine
#: multi-threaded OpenBLAS spin-waits and a 100x100 Cholesky can take 100+ ms instead of 0.1.
SINGLE_THREAD_LIMIT = 2500


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@contextmanager
def blas_threads(n_par: int) -> Iterator[None]:
    """Run dense LAPACK work on ``n_par`` parameters on one BLAS thread when it is small."""
    if n_par >= SINGLE_THREAD_LIMIT:
        yield
        return
    with _controller().limit(limits=1, user_api="blas"):
        yield


@dataclass(frozen=True)
class AggregatedPairs:
    """Comparisons summed by (first item, second item, position known, soft).

    ``w`` is the total weight of a group and ``y`` its weighted mean outcome: the mean win
    probability of Bernoulli groups, the mean clipped logit of soft groups (``soft``), so the
    weighted log-likelihood of the group equals the sum over its raw comparisons (for soft
    groups up to ``within_ss``, the soft logits' weighted sum of squares about their group
    means). ``pair`` maps each group to its unordered pair ``(lo[q], hi[q])``; the Laplacian is
    assembled on those pairs, whose CSR pattern (``indptr``, ``indices``, ``perm``) is computed
    once.
    """

    n_items: int
    a: IntArray
    b: IntArray
    w: FloatArray
    y: FloatArray
    pk: FloatArray
    pair: IntArray
    lo: IntArray
    hi: IntArray
    indptr: IntArray
    indices: IntArray
    perm: IntArray
    soft: BoolArray
    within_ss: float = 0.0

    @property
    def n_groups(self) -> int:
        return int(self.a.size)

    @property
    def has_soft(self) -> bool:
        return bool(self.soft.any())


def aggregate_pairs(
    n_items: int,
    a: IntArray,
    b: IntArray,
    y: FloatArray,
    weight: FloatArray,
    position_known: BoolArray,
    *,
    keep_orientation: bool,
    soft: BoolArray | None = None,
) -> AggregatedPairs:
    """Sum comparisons that share a pair (and, when it matters, orientation and position flag).

    Without a position effect the orientation carries no information, so ``(a, b, y)`` and
    ``(b, a, 1 - y)`` are merged (``(b, a, -z)`` for a soft logit ``z``). Soft and Bernoulli
    comparisons are never merged. Zero-weight comparisons are dropped.
    """
    keep = weight > 0
    a, b, y, w = a[keep], b[keep], y[keep], weight[keep]
    pk = position_known[keep]
    sf = np.zeros(a.size, dtype=np.bool_) if soft is None else soft[keep]
    any_soft = bool(sf.any())
    value = np.where(sf, soft_logit(y), y) if any_soft else y
    if keep_orientation:
        flag = pk.astype(np.int64)
    else:
        swap = a > b
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        value = np.where(swap, np.where(sf, -value, 1.0 - value), value)
        flag = np.zeros(a.size, dtype=np.int64)
    n64 = np.int64(n_items)
    key = ((a.astype(np.int64) * n64 + b.astype(np.int64)) * 2 + flag) * 2 + sf
    uniq, inv = np.unique(key, return_inverse=True)
    g = uniq.size
    wg = weighted_count(inv, w, g)
    wy = weighted_count(inv, w * value, g)
    ga = ((uniq // 4) // n64).astype(np.intp)
    gb = ((uniq // 4) % n64).astype(np.intp)
    gpk = ((uniq // 2) % 2).astype(np.float64)
    gsoft = (uniq % 2).astype(np.bool_)
    yg = np.divide(wy, wg, out=np.zeros(g), where=wg > 0)
    within_ss = 0.0
    if any_soft:
        within_ss = max(
            float(np.sum((w * value * value)[sf])) - float(np.sum((wg * yg * yg)[gsoft])), 0.0
        )
        yg = np.where(gsoft, yg, np.clip(yg, 0.0, 1.0))
    else:
        yg = np.clip(yg, 0.0, 1.0)
    if keep_orientation or any_soft:
        lo_hi = np.minimum(ga, gb).astype(np.int64) * n64 + np.maximum(ga, gb)
        pairs, pair = np.unique(lo_hi, return_inverse=True)
        lo, hi = (pairs // n64).astype(np.intp), (pairs % n64).astype(np.intp)
    else:  # groups are already the distinct unordered pairs, with a < b
        pair, lo, hi = np.arange(g, dtype=np.intp), ga, gb
    indptr, indices, perm = _csr_structure(n_items, lo, hi)
    return AggregatedPairs(
        n_items=n_items,
        a=ga,
        b=gb,
        w=wg,
        y=yg,
        pk=gpk,
        pair=pair.astype(np.intp),
        lo=lo,
        hi=hi,
        indptr=indptr,
        indices=indices,
        perm=perm,
        soft=gsoft,
        within_ss=within_ss,
    )


def _csr_structure(n: int, lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """CSR sparsity pattern of the symmetric off-diagonal part, built once per fit.

    ``perm`` maps ``concatenate([vq, vq])`` (values on (lo, hi) then (hi, lo)) to CSR order, so
    each Newton iteration fills the values without sorting.
    """
    rows = np.concatenate([lo, hi])
    cols = np.concatenate([hi, lo])
    order = np.argsort(rows.astype(np.int64) * n + cols)
    indptr = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols[order].astype(np.intp), order.astype(np.intp)


def weighted_count(index: IntArray, weights: FloatArray, n: int) -> FloatArray:
    """``np.bincount`` with weights, typed as float64 (sums ``weights`` per index)."""
    return np.bincount(index, weights, n).astype(np.float64, copy=False)


def information_diagonal(agg: AggregatedPairs, v: FloatArray, alpha: float) -> FloatArray:
    """Diagonal of the theta block of the Fisher information for group variances ``v``."""
    n = agg.n_items
    return weighted_count(agg.a, v, n) + weighted_count(agg.b, v, n) + alpha


POSITION_PRIOR_PRECISION = 0.25
"""Prior precision of the first-position effect in a fit with a prior on the abilities
(``alpha > 0``): ``gamma ~ N(0, 2^2)``, weak against any real position bias (a 2-logit bias
turns a toss-up into 88:12) but finite when the first slot won every comparison so far, where
the unpenalised estimate runs off to infinity and the fit failed. Maximum-likelihood fits
(``alpha == 0``) keep no prior on it."""


class Information:
    """The Fisher information (negative Hessian) at one point, as a solvable operator.

    Parameters
    ----------
    agg : aggregated comparisons.
    v : ``w * p * (1 - p)`` per group at the current point.
    alpha : prior precision.
    use_gamma : include the first-position parameter as the last coordinate.
    gamma_alpha : prior precision of the first-position parameter (0: none).
    """

    def __init__(
        self, agg: AggregatedPairs, v: FloatArray, alpha: float, *, use_gamma: bool,
        gamma_alpha: float = 0.0,
    ) -> None:
        self.agg = agg
        self.n = agg.n_items
        self.alpha = alpha
        self.use_gamma = use_gamma
        self.centred = alpha == 0.0
        n = self.n
        self.diag = information_diagonal(agg, v, alpha)
        self.vq = weighted_count(agg.pair, v, agg.lo.size)
        if use_gamma:
            vg = v * agg.pk
            self.h = weighted_count(agg.a, vg, n) - weighted_count(agg.b, vg, n)
            self.hgg = float(vg.sum()) + gamma_alpha
        else:
            self.h = np.zeros(n)
            self.hgg = 0.0
        self.n_par = n + (1 if use_gamma else 0)

    # -- dense -----------------------------------------------------------------------------
    def dense(self) -> FloatArray:
        """The (regularised, see module docstring) information as a dense matrix."""
        n, lo, hi, vq = self.n, self.agg.lo, self.agg.hi, self.vq
        size = self.n_par
        flat = -weighted_count(
            np.concatenate([lo * size + hi, hi * size + lo]), np.concatenate([vq, vq]), size * size
        )
        m = flat.reshape(size, size)
        idx = np.arange(n)
        m[idx, idx] += self.diag
        if self.centred:
            m[:n, :n] += 1.0 / n
        if self.use_gamma:
            m[:n, n] = self.h
            m[n, :n] = self.h
            m[n, n] = self.hgg
        return m

    # -- sparse ----------------------------------------------------------------------------
    def _offdiag(self) -> csr_matrix:
        agg = self.agg
        data = np.concatenate([self.vq, self.vq])[agg.perm]
        return csr_matrix((data, agg.indices, agg.indptr), shape=(self.n, self.n))

    def solve(self, rhs: FloatArray, *, rtol: float = 1e-10) -> FloatArray:
        """Solve ``I x = rhs``; for ``alpha == 0`` the theta part of ``rhs`` must sum to zero.

        Returns the solution with the theta part centred (sum zero) when ``alpha == 0``.
        """
        if self.n_par <= DENSE_LIMIT:
            try:
                with blas_threads(self.n_par):
                    x: FloatArray = scipy.linalg.solve(self.dense(), rhs, assume_a="pos")
            except np.linalg.LinAlgError as exc:
                raise ConvergenceError(
                    "the Fisher information became singular during Newton-Raphson (abilities "
                    "diverging); use a prior (alpha > 0)"
                ) from exc
        else:
            x = self._solve_cg(rhs, rtol)
        if self.centred:
            x[: self.n] -= x[: self.n].mean()
        return x

    def _solve_cg(self, rhs: FloatArray, rtol: float) -> FloatArray:
        n = self.n
        off = self._offdiag()
        diag, h, hgg, use_gamma, centred = self.diag, self.h, self.hgg, self.use_gamma, self.centred

        def matvec(x: FloatArray) -> FloatArray:
            t = x[:n]
            out = diag * t - off @ t
            if centred:
                out += t.mean()
            if use_gamma:
                out += h * x[n]
                return np.append(out, float(h @ t) + hgg * x[n])
            return np.asarray(out, dtype=np.float64)

        pdiag = diag + (1.0 / n if centred else 0.0)
        precond = 1.0 / (np.append(pdiag, hgg) if use_gamma else pdiag)
        return _pcg(matvec, rhs, precond, rtol=rtol, max_iter=max(200, 4 * self.n_par))

    # -- covariance --------------------------------------------------------------------------
    def covariance_diagonal(self) -> tuple[FloatArray, float]:
        """Exact variances: theta (sum-to-zero constrained when ``alpha == 0``) and gamma.

        Dense O(n^2) memory and O(n^3) time (Cholesky factor and inverse through LAPACK).
        """
        m = self.dense()
        with blas_threads(self.n_par):
            c, info = scipy.linalg.lapack.dpotrf(m, lower=False, overwrite_a=True)
            if info != 0:
                raise ConvergenceError(
                    "the Fisher information is not positive definite; the scale is not "
                    "identified (check for disconnected items or use a prior, alpha > 0)"
                )
            # With M = R'R, inv(M) = inv(R) inv(R)': its diagonal is the row norms of inv(R),
            # which saves the third O(n^3) pass (dlauum) that a full inverse would need.
            r_inv, info = scipy.linalg.lapack.dtrtri(c, lower=0, overwrite_c=1)
        if info != 0:  # pragma: no cover - dpotrf succeeded, so dtrtri cannot fail
            raise ConvergenceError("could not invert the Fisher information")
        d = _upper_row_norms(r_inv)
        var_t = d[: self.n] - (1.0 / self.n if self.centred else 0.0)
        var_g = float(d[self.n]) if self.use_gamma else float("nan")
        return var_t, var_g


def _upper_row_norms(upper: FloatArray, block: int = 256) -> FloatArray:
    """Squared row norms of the upper triangle (the lower one holds garbage), in row blocks so
    no second n-by-n array is allocated."""
    n = upper.shape[0]
    out = np.empty(n)
    for start in range(0, n, block):
        rows = np.triu(upper[start : start + block], k=start)
        out[start : start + block] = np.einsum("ij,ij->i", rows, rows)
    return out


def _pcg(
    matvec: object,
    rhs: FloatArray,
    precond: FloatArray,
    *,
    rtol: float,
    max_iter: int,
) -> FloatArray:
    """Preconditioned conjugate gradients for a symmetric positive definite operator."""
    assert callable(matvec)
    x = np.zeros_like(rhs)
    r = rhs.copy()
    bnorm = float(np.linalg.norm(rhs))
    if bnorm == 0.0:
        return x
    z = precond * r
    p = z.copy()
    rz = float(r @ z)
    for _ in range(max_iter):
        q = matvec(p)
        step = rz / float(p @ q)
        x += step * p
        r -= step * q
        if float(np.linalg.norm(r)) <= rtol * bnorm:
            return x
        z = precond * r
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    if float(np.linalg.norm(r)) <= 1e-6 * bnorm:
        # Rounding limits the attainable accuracy on ill-conditioned graphs; an inexact Newton
        # step this good still converges (the outer loop checks the step size).
        return x
    raise ConvergenceError(
        f"conjugate gradients did not converge in {max_iter} iterations; the comparison graph "
        "is very poorly connected — add comparisons between weakly linked groups or use a prior"
    )
