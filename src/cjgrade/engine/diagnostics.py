"""The engine's view of the result-quality checks and the judge-calibration diagnostic.

``quality_section`` runs ``cjgrade.stats.quality.assess_quality`` on what finalisation
computed (the reliability figures, the grade model's in-sample and leave-one-anchor-out
predictions, the students' grades) and marks every student's grade unreliable when the result
is degenerate. ``calibration_section`` runs ``cjgrade.stats.calibration`` on the successful
comparisons against the final fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from cjgrade.engine.fitting import RoundEstimate
from cjgrade.engine.results import (
    GradeOutcome,
    GradesSection,
    QualitySection,
    ReliabilitySection,
)
from cjgrade.engine.spec import BatchSpec
from cjgrade.errors import CJGradeError
from cjgrade.scales import get_scale, grade_index
from cjgrade.stats.calibration import JudgeCalibration, assess_judge_calibration
from cjgrade.stats.quality import QualityReport, assess_quality
from cjgrade.store.records import ComparisonRecord

__all__ = ["RELIABILITY_FIGURES", "calibration_section", "mark_grades", "quality_section"]

RELIABILITY_FIGURES = ("posterior_reliability", "ssr")
"""The reliability figures the quality check reads (the lowest finite one counts): the
posterior reliability the engine stops on, and the conventional SSR it reports beside it."""


def quality_section(
    spec: BatchSpec,
    reliability: ReliabilitySection,
    grades: GradesSection,
    projections: dict[str, GradeOutcome],
) -> tuple[QualitySection, QualityReport]:
    """The result's quality section and the report behind it."""
    figures = {k: getattr(reliability, k) for k in RELIABILITY_FIGURES}
    kwargs: dict[str, Any] = {}
    if grades.available:
        rank = {code: r for r, code in enumerate(grades.grades)}
        anchors = [e for e in spec.essays if e.is_anchor and str(e.grade) in rank]
        in_sample = grades.anchor_predictions.predicted if grades.anchor_predictions else {}
        loo = grades.leave_one_anchor_out.predicted if grades.leave_one_anchor_out else {}
        students = [p.grade for p in projections.values()]
        if anchors and all(e.id in in_sample for e in anchors):
            kwargs = {
                "anchor_grades": [rank[str(e.grade)] for e in anchors],
                "anchor_predicted": [rank[in_sample[e.id]] for e in anchors],
                "student_predicted": [rank[g] for g in students if g in rank],
                "loo_evaluated": [loo.get(e.id) is not None for e in anchors],
                "loo_predicted": [rank.get(loo.get(e.id) or "", -9) for e in anchors],
            }
    report = assess_quality(figures, **kwargs)
    section = QualitySection(
        status=report.status,
        grades_reliable=grades.available and report.grades_reliable,
        reasons=report.reasons, checks=report.checks, figures=report.figures,
        thresholds=report.thresholds,
    )
    return section, report


def mark_grades(
    projections: dict[str, GradeOutcome], report: QualityReport
) -> dict[str, GradeOutcome]:
    """Every grade marked ``reliable`` as the quality report says."""
    return {k: replace(g, reliable=report.grades_reliable) for k, g in projections.items()}


def _anchor_ranks(spec: BatchSpec) -> list[int] | None:
    """Per essay: the anchor's grade rank (below-lowest 0, lowest named grade 1, ...) or -1."""
    if spec.grade_scale is None:
        return None
    try:
        scale = get_scale(spec.grade_scale, spec.user_scales)
        return [grade_index(scale, str(e.grade)) + 1 if e.is_anchor and e.grade else -1
                for e in spec.essays]
    except CJGradeError:
        return None


def _confidence(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def calibration_section(
    spec: BatchSpec, estimate: RoundEstimate, comparisons: Sequence[ComparisonRecord]
) -> JudgeCalibration | None:
    """The judge's calibration against the final fit; None without a successful comparison."""
    index = {e.id: i for i, e in enumerate(spec.essays)}
    done = [c for c in comparisons if c.status == "succeeded" and c.p_a is not None
            and c.essay_a in index and c.essay_b in index]
    if not done:
        return None
    return assess_judge_calibration(
        [index[c.essay_a] for c in done], [index[c.essay_b] for c in done],
        [float(c.p_a) for c in done if c.p_a is not None],
        np.asarray(estimate.theta, dtype=np.float64), np.asarray(estimate.se, dtype=np.float64),
        confidence=[_confidence(c.confidence) for c in done],
        anchor_rank=_anchor_ranks(spec),
    )
