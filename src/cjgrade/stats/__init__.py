"""Pure statistics core: numpy/scipy only, no I/O, no clock, no global RNG.

Items are integer indices ``0..n_items-1``; ids are mapped at the edges.
"""

from cjgrade.stats.alignment import AnchorAlignment, anchor_alignment, meets_alignment_targets
from cjgrade.stats.bt import BTFit, PairwiseData, fit_bradley_terry
from cjgrade.stats.fitstats import FitStatistics, compute_fit_statistics
from cjgrade.stats.grading import (
    GradeModel,
    GradePrior,
    GradeProjection,
    LeaveOneOutResult,
    ShrunkAbilities,
    fit_grade_model,
    leave_one_anchor_out,
    project_grades,
    shrink_abilities,
)
from cjgrade.stats.reliability import (
    SplitHalf,
    scale_separation_reliability,
    separation_index,
    split_half_reliability,
)

__all__ = [
    "AnchorAlignment",
    "BTFit",
    "FitStatistics",
    "GradeModel",
    "GradePrior",
    "GradeProjection",
    "LeaveOneOutResult",
    "PairwiseData",
    "ShrunkAbilities",
    "SplitHalf",
    "anchor_alignment",
    "compute_fit_statistics",
    "fit_bradley_terry",
    "fit_grade_model",
    "leave_one_anchor_out",
    "meets_alignment_targets",
    "project_grades",
    "scale_separation_reliability",
    "separation_index",
    "shrink_abilities",
    "split_half_reliability",
]
