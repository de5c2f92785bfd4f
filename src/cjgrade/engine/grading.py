"""Grade projection and anchor alignment for a finished batch, through ``cjgrade.stats``.

The batch's abilities come from a prior-based fit (empirical Bayes by default), so they are
posterior modes and are projected as they are; after a pure maximum-likelihood fit
(``alpha = 0``) they are shrunk first, as ``cjgrade.stats.grading`` prescribes.

Confidence labels: ``high`` when the most likely grade has probability >= 0.7, ``medium`` when
>= 0.4, ``low`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cjgrade.engine.fitting import RoundEstimate
from cjgrade.engine.results import (
    AlignedAnchor,
    AlignmentSection,
    AnchorPredictions,
    GradeModelSummary,
    GradeOutcome,
    GradesSection,
    LeaveOneAnchorOut,
)
from cjgrade.engine.spec import BatchSpec
from cjgrade.errors import ConvergenceError, InputError
from cjgrade.scales import GradeScale, get_scale, grade_index
from cjgrade.stats.alignment import anchor_alignment, meets_alignment_targets
from cjgrade.stats.grading import (
    fit_grade_model,
    leave_one_anchor_out,
    project_grades,
    shrink_abilities,
)
from cjgrade.store.records import ComparisonRecord

__all__ = ["CONFIDENCE_LABELS", "GRADE_MODEL_KIND", "confidence_label", "grade_batch"]

Sections = tuple[GradesSection, AlignmentSection | None, dict[str, GradeOutcome]]

GRADE_MODEL_KIND = "cumulative logit, anchor SEs integrated out"


CONFIDENCE_LABELS = "high: p >= 0.7; medium: p >= 0.4; low otherwise"
"""What :func:`confidence_label` says, for the artefact."""


def confidence_label(p: float) -> str:
    return "high" if p >= 0.7 else "medium" if p >= 0.4 else "low"


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def _code(scale: GradeScale, idx: int) -> str:
    if idx < 0:
        assert scale.below_lowest_grade is not None
        return scale.below_lowest_grade
    return scale.grades[idx]


def _alignment(
    spec: BatchSpec, scale: GradeScale, estimate: RoundEstimate,
    comparisons: Sequence[ComparisonRecord],
) -> AlignmentSection | None:
    anchors = [(i, e) for i, e in enumerate(spec.essays) if e.is_anchor]
    if len(anchors) < 2:
        return None
    local = {e.id: k for k, (_, e) in enumerate(anchors)}
    winners, losers = [], []
    for c in comparisons:
        if c.status != "succeeded" or c.p_a is None or c.p_a == 0.5:
            continue
        if c.essay_a in local and c.essay_b in local:
            a, b = local[c.essay_a], local[c.essay_b]
            winners.append(a if c.p_a > 0.5 else b)
            losers.append(b if c.p_a > 0.5 else a)
    grades = [grade_index(scale, str(e.grade)) for _, e in anchors]
    theta = [float(estimate.theta[i]) for i, _ in anchors]
    al = anchor_alignment(grades, theta, winners, losers)
    ids = [e.id for _, e in anchors]
    return AlignmentSection(
        n_anchors=al.n_anchors,
        n_comparisons=al.n_comparisons,
        kendall_tau_b=al.kendall_tau_b,
        kendall_p_value=al.kendall_p_value,
        direct_inversions=len(al.inversion_pairs),
        inversion_decisions=al.inversion_decisions,
        inversion_pairs=tuple((ids[w], ids[lo]) for w, lo in al.inversion_pairs),
        zero_win_anchors=tuple(ids[i] for i in al.zero_win_anchors),
        problem_zero_win_anchors=tuple(ids[i] for i in al.problem_zero_win_anchors),
        uncompared_anchors=tuple(ids[i] for i in al.uncompared_anchors),
        meets_targets=meets_alignment_targets(al),
        anchors=tuple(
            AlignedAnchor(essay_id=ids[k], grade=str(anchors[k][1].grade), theta=theta[k],
                          fitted_rank=int(al.fitted_rank[k]),
                          expected_rank=int(al.expected_rank[k]), wins=int(al.wins[k]),
                          losses=int(al.losses[k]), win_rate=_num(al.win_rate[k]))
            for k in range(len(ids))
        ),
    )


def _in_sample(
    spec: BatchSpec, scale: GradeScale, rows: Sequence[int], true: Sequence[int],
    predicted: Sequence[int] | Any,
) -> AnchorPredictions:
    """The fitted model's most likely grade for each anchor (the anchors it was fitted on):
    the in-sample counterpart of leave-one-anchor-out, and what the quality checks read."""
    diff = [abs(int(p) - t) for p, t in zip(predicted, true, strict=True)]
    return AnchorPredictions(
        n=len(diff),
        exact=sum(d == 0 for d in diff) / len(diff) if diff else None,
        within_one=sum(d <= 1 for d in diff) / len(diff) if diff else None,
        predicted={spec.essays[i].id: _code(scale, int(p))
                   for i, p in zip(rows, predicted, strict=True)},
    )


def _unavailable(spec: BatchSpec, reason: str) -> GradesSection:
    return GradesSection(available=False, reason=reason, grade_scale=spec.grade_scale)


def grade_batch(
    spec: BatchSpec,
    estimate: RoundEstimate,
    comparisons: Sequence[ComparisonRecord],
    *,
    failed: bool,
) -> Sections:
    """``(grades section, alignment section, projection per student id)``."""
    if failed:
        return _unavailable(spec, "the batch failed"), None, {}
    if spec.grade_scale is None:
        return _unavailable(spec, "no grade scale"), None, {}
    scale = get_scale(spec.grade_scale, spec.user_scales)
    alignment = _alignment(spec, scale, estimate, comparisons)
    if not spec.grades_requested:
        return _unavailable(spec, "grades were not requested"), alignment, {}
    theta, se = estimate.theta, estimate.se
    try:
        if estimate.prior_variance is None:  # maximum likelihood: shrink first
            shrunk = shrink_abilities(theta, se)
            theta, se = shrunk.theta, shrunk.se
        anchor_rows = [i for i, e in enumerate(spec.essays) if e.is_anchor]
        student_rows = [i for i, e in enumerate(spec.essays) if not e.is_anchor]
        idx = [grade_index(scale, str(spec.essays[i].grade)) for i in anchor_rows]
        priors, below = list(scale.priors), scale.allows_below_lowest
        model = fit_grade_model(theta[anchor_rows], se[anchor_rows], idx, len(scale.grades),
                                population_priors=priors, below_lowest=below)
        projection = project_grades(model, theta[student_rows], se[student_rows])
        in_sample = project_grades(model, theta[anchor_rows], se[anchor_rows])
        loo = leave_one_anchor_out(theta[anchor_rows], se[anchor_rows], idx,
                                   len(scale.grades), population_priors=priors,
                                   below_lowest=below)
    except (InputError, ConvergenceError) as exc:
        return _unavailable(spec, f"grade projection failed: {exc}"), alignment, {}
    codes = [_code(scale, g) for g in projection.category_grades]
    out: dict[str, GradeOutcome] = {}
    for row, i in enumerate(student_rows):
        probs = {c: float(p) for c, p in zip(codes, projection.probabilities[row], strict=True)}
        best = _code(scale, int(projection.most_likely[row]))
        conf = float(projection.confidence[row])
        out[spec.essays[i].id] = GradeOutcome(
            grade=best, probabilities=probs, expected=float(projection.expected[row]),
            confidence=conf, confidence_label=confidence_label(conf),
        )
    grades = GradesSection(
        available=True, reason=None, grade_scale=spec.grade_scale, grades=tuple(codes),
        model=GradeModelSummary(kind=GRADE_MODEL_KIND,
                                cut_points=tuple(float(c) for c in model.cut_points),
                                slope=float(model.slope), n_anchors=model.n_anchors),
        anchor_predictions=_in_sample(spec, scale, anchor_rows, idx, in_sample.most_likely),
        leave_one_anchor_out=LeaveOneAnchorOut(
            n=loo.n_evaluated, exact=loo.exact_accuracy, within_one=loo.within_one_accuracy,
            mean_p_true=loo.mean_p_true,
            predicted={
                spec.essays[i].id: (_code(scale, int(p)) if bool(ev) else None)
                for i, p, ev in zip(anchor_rows, loo.predicted, loo.evaluated, strict=True)
            },
        ),
    )
    return grades, alignment, out
