"""Pure statistics core: numpy/scipy only, no I/O, no clock, no global RNG.

Items are integer indices ``0..n_items-1``; ids are mapped at the edges.

The names below are loaded on first use (PEP 562 module ``__getattr__``): importing one
submodule, say :mod:`cjgrade.stats.bt` for ``cjgrade fit``, must not import the others and,
through them, ``scipy.stats`` (most of a second at start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cjgrade.stats.alignment import (
        AnchorAlignment,
        anchor_alignment,
        meets_alignment_targets,
    )
    from cjgrade.stats.bt import BTFit, PairwiseData, fit_bradley_terry
    from cjgrade.stats.components import (
        ComponentFit,
        Components,
        fit_by_component,
        label_components,
    )
    from cjgrade.stats.empirical_bayes import (
        EmpiricalBayesFit,
        fit_empirical_bayes,
        posterior_reliability,
    )
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
    from cjgrade.stats.simulation_judge import (
        SimulatedJudge,
        simulate_outcomes,
        win_probability,
    )
    from cjgrade.stats.stopping import (
        RoundStatus,
        StopDecision,
        StoppingRules,
        decide_stopping,
    )

# Public name -> submodule that defines it.
_SOURCES: dict[str, str] = {
    "AnchorAlignment": "alignment",
    "anchor_alignment": "alignment",
    "meets_alignment_targets": "alignment",
    "BTFit": "bt",
    "PairwiseData": "bt",
    "fit_bradley_terry": "bt",
    "ComponentFit": "components",
    "Components": "components",
    "fit_by_component": "components",
    "label_components": "components",
    "FitStatistics": "fitstats",
    "compute_fit_statistics": "fitstats",
    "GradeModel": "grading",
    "GradePrior": "grading",
    "GradeProjection": "grading",
    "LeaveOneOutResult": "grading",
    "ShrunkAbilities": "grading",
    "fit_grade_model": "grading",
    "leave_one_anchor_out": "grading",
    "project_grades": "grading",
    "shrink_abilities": "grading",
    "DEFAULT_STRATEGY": "pairing",
    "STRATEGIES": "pairing",
    "PairingOptions": "pairing",
    "PairingState": "pairing",
    "select_pairs": "pairing",
    "SplitHalf": "reliability",
    "scale_separation_reliability": "reliability",
    "separation_index": "reliability",
    "split_half_reliability": "reliability",
    "SimulatedJudge": "simulation_judge",
    "simulate_outcomes": "simulation_judge",
    "win_probability": "simulation_judge",
    "RoundStatus": "stopping",
    "StopDecision": "stopping",
    "StoppingRules": "stopping",
    "decide_stopping": "stopping",
    "EmpiricalBayesFit": "empirical_bayes",
    "fit_empirical_bayes": "empirical_bayes",
    "posterior_reliability": "empirical_bayes",
}

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "AnchorAlignment",
    "BTFit",
    "ComponentFit",
    "Components",
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
    "fit_by_component",
    "fit_empirical_bayes",
    "fit_grade_model",
    "label_components",
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


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
