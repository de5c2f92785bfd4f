"""The engine's view of the reliability and fit statistics of ``cjgrade.stats``."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from cjgrade.stats.bt import BTFit, PairwiseData
from cjgrade.stats.fitstats import compute_fit_statistics
from cjgrade.stats.reliability import separation_index

__all__ = ["essay_and_judge_fit", "separation_of"]

FitRow = tuple[float | None, float | None]


def _value(x: float) -> float | None:
    return float(x) if math.isfinite(float(x)) else None


def separation_of(theta: NDArray[np.float64], se: NDArray[np.float64]) -> float | None:
    """Separation index G (Wright & Masters, ``G**2 = SSR / (1 - SSR)``); None if undefined."""
    return _value(separation_index(theta, se))


def essay_and_judge_fit(
    data: PairwiseData, fit: BTFit, n_judges: int
) -> tuple[list[FitRow], list[tuple[int, float | None, float | None]]]:
    """Infit/outfit per essay, and ``(n, infit, outfit)`` per judge index."""
    stats = compute_fit_statistics(
        data, fit.theta, position_effect=fit.position_effect, n_judges=n_judges,
        soft_variance=fit.soft_variance,
    )
    essays = [
        (_value(i), _value(o)) for i, o in zip(stats.item_infit, stats.item_outfit, strict=True)
    ]
    judges = [
        (int(n), _value(i), _value(o))
        for n, i, o in zip(stats.judge_count, stats.judge_infit, stats.judge_outfit, strict=True)
    ]
    return essays, judges
