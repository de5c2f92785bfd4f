"""Pure statistics core: numpy/scipy only, no I/O, no clock, no global RNG.

Items are integer indices ``0..n_items-1``; ids are mapped at the edges.
"""

from cjgrade.stats.bt import BTFit, PairwiseData, fit_bradley_terry
from cjgrade.stats.fitstats import FitStatistics, compute_fit_statistics
from cjgrade.stats.reliability import (
    SplitHalf,
    scale_separation_reliability,
    separation_index,
    split_half_reliability,
)

__all__ = [
    "BTFit",
    "FitStatistics",
    "PairwiseData",
    "SplitHalf",
    "compute_fit_statistics",
    "fit_bradley_terry",
    "scale_separation_reliability",
    "separation_index",
    "split_half_reliability",
]
