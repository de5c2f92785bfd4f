"""Input checks shared by the grade-projection functions."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cjgrade.errors import InputError

__all__ = ["BELOW_LOWEST", "as_vector", "check_anchors", "check_population"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Grade index of the below-lowest grade.
BELOW_LOWEST = -1


def as_vector(name: str, values: ArrayLike) -> FloatArray:
    """A flat float array; InputError naming ``name`` when a value is not finite."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite numbers")
    return arr


def check_population(population: ArrayLike | None, n_grades: int) -> FloatArray:
    """Population shares per grade (uniform when None), renormalised to sum to exactly 1."""
    if population is None:
        return np.full(n_grades, 1.0 / n_grades)
    pop = as_vector("population_priors", population)
    if pop.size != n_grades or np.any(pop <= 0) or abs(pop.sum() - 1.0) > 0.01 + 1e-9:
        raise InputError(
            f"population_priors must be {n_grades} positive shares summing to 1 (± 0.01), "
            f"got {pop.tolist()}"
        )
    return np.asarray(pop / pop.sum(), dtype=np.float64)


def check_anchors(
    theta: ArrayLike, se: ArrayLike, grade_idx: ArrayLike, n_grades: int, below_lowest: bool
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Validated anchor (theta, se, grade index); InputError says what is wrong."""
    if n_grades < 2:
        raise InputError(f"a grade scale needs at least 2 grades, got n_grades={n_grades}")
    t = as_vector("anchor_theta", theta)
    s = as_vector("anchor_se", se)
    g_raw = np.asarray(grade_idx).ravel()
    if not (t.size == s.size == g_raw.size):
        raise InputError(
            f"anchor_theta, anchor_se and anchor_grade_idx differ in length "
            f"({t.size}, {s.size}, {g_raw.size})"
        )
    if np.any(s < 0):
        raise InputError("anchor_se must be non-negative")
    if g_raw.size and not np.all(np.equal(np.mod(g_raw.astype(np.float64), 1), 0)):
        raise InputError("anchor_grade_idx must be integers")
    g = g_raw.astype(np.intp)
    low = BELOW_LOWEST if below_lowest else 0
    bad = (g < low) | (g >= n_grades)
    if np.any(bad):
        hint = " (-1 = below-lowest is allowed only when the scale has that grade)"
        raise InputError(
            f"anchor grade indices {sorted(set(g[bad].tolist()))} are outside "
            f"{low}..{n_grades - 1}{hint if not below_lowest else ''}"
        )
    distinct = np.unique(g)
    if distinct.size < 2:
        found = distinct.tolist()
        raise InputError(
            f"grade projection needs anchors with at least two distinct grades, found {found} "
            f"among {g.size} anchor(s); add anchors of other grades"
        )
    return t, s, g
