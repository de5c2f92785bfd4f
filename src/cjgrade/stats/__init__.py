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
from cjgrade.stats.pairing import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    PairingOptions,
    PairingState,
    select_pairs,
)
from cjgrade.stats.reliability import (
    SplitHalf,
    scale_separation_reliability,
    separation_index,
    split_half_reliability,
)
from cjgrade.stats.simulation_judge import SimulatedJudge, simulate_outcomes, win_probability
from cjgrade.stats.stopping import RoundStatus, StopDecision, StoppingRules, decide_stopping
from cjgrade.stats.stopping_reliability import (
    EmpiricalBayesFit,
    fit_empirical_bayes,
    posterior_reliability,
)

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "AnchorAlignment",
    "BTFit",
    "EmpiricalBayesFit",
    "FitStatistics",
    "GradeModel",
    "GradePrior",
    "GradeProjection",
    "LeaveOneOutResult",
    "PairingOptions",
    "PairingState",
    "PairwiseData",
    "RoundStatus",
    "ShrunkAbilities",
    "SimulatedJudge",
    "SplitHalf",
    "StopDecision",
    "StoppingRules",
    "anchor_alignment",
    "compute_fit_statistics",
    "decide_stopping",
    "fit_bradley_terry",
    "fit_empirical_bayes",
    "fit_grade_model",
    "leave_one_anchor_out",
    "meets_alignment_targets",
    "posterior_reliability",
    "project_grades",
    "scale_separation_reliability",
    "select_pairs",
    "separation_index",
    "shrink_abilities",
    "simulate_outcomes",
    "split_half_reliability",
    "win_probability",
]
