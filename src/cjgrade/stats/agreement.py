"""Agreement between a comparative-judgement scale and human scores.

A CJ scale (abilities ``theta``) has no score units, so to compare it with human scores on a
rating scale it is first mapped onto the human score distribution by matching quantiles: the
essay ranked ``r``-th of ``n`` by ``theta`` receives the human-score distribution's quantile
``(r + 0.5) / n``. With the sample's own human scores as the distribution this is an exact
re-assignment of those scores in ``theta`` order, so the mapping can only be judged on order,
which is what CJ delivers. Agreement is then the quadratic weighted kappa (QWK), the usual
measure for automated essay scoring (ASAP-AES), plus Spearman's rank correlation of ``theta``
with the human scores (which needs no mapping).

References: Cohen (1968) "Weighted kappa"; Shermis & Hamner (2012) on ASAP-AES evaluation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

from cjgrade.errors import InputError

__all__ = ["map_to_score_distribution", "quadratic_weighted_kappa", "spearman_rho"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def quadratic_weighted_kappa(
    rater_a: ArrayLike,
    rater_b: ArrayLike,
    *,
    min_rating: int | None = None,
    max_rating: int | None = None,
) -> float:
    """Quadratic weighted kappa between two integer ratings of the same items.

    Parameters
    ----------
    rater_a, rater_b : integer ratings, same length.
    min_rating, max_rating : the rating scale (default: the range seen in either rater).

    Returns
    -------
    float
        ``1 - sum(W * O) / sum(W * E)`` with ``W[i, j] = (i - j)**2 / (k - 1)**2``, ``O`` the
        observed confusion matrix and ``E`` the outer product of the marginals scaled to the
        same total. 1 is perfect agreement, 0 chance level. NaN when the expected disagreement
        is zero (both raters used a single, identical rating throughout).

    Raises
    ------
    InputError
        When the inputs differ in length, are empty, are not integers, or fall outside the
        given scale.
    """
    a = _as_int_ratings(rater_a, "rater_a")
    b = _as_int_ratings(rater_b, "rater_b")
    if a.size != b.size or a.size == 0:
        raise InputError(f"ratings must be non-empty and equally long ({a.size} vs {b.size})")
    low = int(min(a.min(), b.min())) if min_rating is None else min_rating
    high = int(max(a.max(), b.max())) if max_rating is None else max_rating
    if min(a.min(), b.min()) < low or max(a.max(), b.max()) > high:
        raise InputError(f"ratings fall outside the scale {low}..{high}")
    k = high - low + 1
    observed = np.zeros((k, k))
    np.add.at(observed, (a - low, b - low), 1.0)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / a.size
    if k == 1:
        return float("nan")
    idx = np.arange(k, dtype=np.float64)
    weights = (idx[:, None] - idx[None, :]) ** 2 / (k - 1) ** 2
    denominator = float((weights * expected).sum())
    if denominator == 0.0:
        return float("nan")
    return 1.0 - float((weights * observed).sum()) / denominator


def spearman_rho(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either is constant.

    Raises
    ------
    InputError
        When the inputs differ in length or have fewer than two items.
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.size != ya.size or xa.size < 2:
        raise InputError(f"need two equally long samples of at least 2 ({xa.size}, {ya.size})")
    rx = np.asarray(rankdata(xa), dtype=np.float64)
    ry = np.asarray(rankdata(ya), dtype=np.float64)
    rx -= rx.mean()
    ry -= ry.mean()
    norm = float(np.sqrt((rx**2).sum() * (ry**2).sum()))
    if norm == 0.0:
        return float("nan")
    return float((rx * ry).sum()) / norm


def map_to_score_distribution(theta: ArrayLike, scores: ArrayLike) -> FloatArray:
    """Map abilities onto a score distribution by matching quantiles.

    Parameters
    ----------
    theta : abilities of ``n`` items (higher is better).
    scores : a sample of the target score distribution (any length); when it holds the same
        items' own scores, the result is those scores re-assigned in ``theta`` order.

    Returns
    -------
    ndarray
        For the item ranked ``r``-th (0-based, ascending theta; ties broken by position), the
        ``(r + 0.5) / n`` quantile of ``scores`` (inverse empirical CDF, so values are actual
        scores).

    Raises
    ------
    InputError
        When either input is empty.
    """
    t = np.asarray(theta, dtype=np.float64).ravel()
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    if t.size == 0 or s.size == 0:
        raise InputError("theta and scores must be non-empty")
    order = np.argsort(t, kind="stable")
    q = (np.arange(t.size, dtype=np.float64) + 0.5) / t.size
    idx = np.ceil(q * s.size).astype(np.int64) - 1
    out = np.empty(t.size, dtype=np.float64)
    out[order] = s[np.clip(idx, 0, s.size - 1)]
    return out


def _as_int_ratings(values: ArrayLike, name: str) -> IntArray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
        raise InputError(f"{name} must hold integer ratings")
    return arr.astype(np.int64)
