"""Pure statistics core: numpy/scipy only, no I/O, no clock, no global RNG.

Items are integer indices ``0..n_items-1``; ids are mapped at the edges.
"""

from cjgrade.stats.bt import BTFit, PairwiseData, fit_bradley_terry

__all__ = ["BTFit", "PairwiseData", "fit_bradley_terry"]
