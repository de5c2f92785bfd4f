"""The engine's view of the reliability and fit statistics of ``cjgrade.stats.reliability``."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cjgrade.stats.bt import BTFit, PairwiseData

__all__ = ["essay_and_judge_fit", "separation_of"]

FitRow = tuple[float | None, float | None]


def separation_of(theta: NDArray[np.float64], se: NDArray[np.float64]) -> float | None:
    """Separation index G of the scale (None when it is undefined)."""
    return None


def essay_and_judge_fit(
    data: PairwiseData, fit: BTFit
) -> tuple[list[FitRow], list[tuple[int, float | None, float | None]]]:
    """Infit/outfit per essay and ``(n, infit, outfit)`` per judge index."""
    n_judges = int(data.judge.max()) + 1 if data.n_comparisons else 0
    return [(None, None)] * data.n_items, [
        (int(np.sum(data.judge == j)), None, None) for j in range(n_judges)
    ]
