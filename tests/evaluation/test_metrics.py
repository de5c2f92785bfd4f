"""Every figure of a batch against hand computation, on results written out by hand."""

from __future__ import annotations

import math

import pytest

from cjgrade.engine.results import (
    AlignmentSection,
    BatchResult,
    CostLine,
    EssayOutcome,
    GradeOutcome,
    GradesSection,
    ReliabilitySection,
)
from cjgrade.evaluation.datasets import ScoredEssay
from cjgrade.evaluation.design import SetDesign, set_scale
from cjgrade.evaluation.metrics import nearest_anchor_grades, set_figures
from cjgrade.evaluation.run import JudgeSetup, SetRun
from cjgrade.store.records import ComparisonRecord


def _essay(i: str, score: int, rater2: int | None = None, words: int = 3) -> ScoredEssay:
    return ScoredEssay(i, "1", " ".join(["w"] * words) + f" {i}", score, None, rater2)


def _outcome(essay_id: str, theta: float, grade: str | None, anchor: str | None = None
             ) -> EssayOutcome:
    projection = GradeOutcome(grade=grade, probabilities={grade: 1.0}) if grade else None
    return EssayOutcome(essay_id=essay_id, is_anchor=anchor is not None, theta=theta, se=0.3,
                        rank=0, n_comparisons=2, wins=1.0, anchor_grade=anchor,
                        grade=projection)


def _comparison(k: int, a: str, b: str, p_a: float) -> ComparisonRecord:
    return ComparisonRecord(id=k, batch_id="u", round=1, slot=k, essay_a=a, essay_b=b,
                            status="succeeded", winner="A" if p_a >= 0.5 else "B", p_a=p_a)


def _run(anchors: list[tuple[ScoredEssay, float]],
         students: list[tuple[ScoredEssay, float, str | None]],
         comparisons: list[ComparisonRecord], **result: object) -> SetRun:
    everyone = [e for e, _ in anchors] + [e for e, _, _ in students]
    design = SetDesign("1", 0, set_scale("1", everyone), tuple(e for e, _ in anchors),
                       tuple(e for e, _, _ in students), ())
    essays = tuple([_outcome(f"anchor-{e.essay_id}", t, None, str(e.score)) for e, t in anchors]
                   + [_outcome(f"student-{e.essay_id}", t, g) for e, t, g in students])
    fields: dict[str, object] = dict(
        batch_uuid="u", label=None, status="completed", stop_reason="target_reliability",
        grade_scale=design.scale.scale_id, assignment_id=None, judge="x/y", options={},
        essays=essays, comparisons=tuple(comparisons), rounds=(),
        grades=GradesSection(available=True, reason=None, grade_scale=design.scale.scale_id),
        reliability=ReliabilitySection(
            ssr=0.75, separation=1.7, ssr_method="ml", posterior_reliability=0.8,
            posterior_reliability_method="posterior_sampled", laplace_reliability=None,
            prior_variance=1.0, soft_noise_variance=None, n_soft_comparisons=0,
            n_comparisons_fitted=3),
        alignment=AlignmentSection(
            n_anchors=2, n_comparisons=3, kendall_tau_b=1.0, kendall_p_value=None,
            direct_inversions=0, inversion_decisions=0, inversion_pairs=(), zero_win_anchors=(),
            problem_zero_win_anchors=(), uncompared_anchors=(), meets_targets=True, anchors=()))
    fields.update(result)
    return SetRun(design, JudgeSetup("x/y", "x/y"), None, BatchResult(**fields))  # type: ignore[arg-type]


def test_every_figure_by_hand() -> None:
    """Levels 0-3; students predicted 0, 2, 2, 1 for human 0, 1, 2, 3."""
    anchors = [(_essay("a0", 0), -2.0), (_essay("a3", 3), 2.0)]
    students = [(_essay("s1", 0, 0, words=2), -1.5, "0"), (_essay("s2", 1, 1, words=5), -0.2, "2"),
                (_essay("s3", 2, 2, words=4), 0.5, "2"), (_essay("s4", 3, 2, words=9), 1.0, "1")]
    comparisons = [_comparison(k, "anchor-a3", "anchor-a0", 0.8) for k in range(3)]
    comparisons.append(ComparisonRecord(id=9, batch_id="u", round=1, slot=9, essay_a="student-s1",
                                        essay_b="anchor-a0", status="failed"))
    costs = (CostLine("x", "y", 4, 1000, 200, 0, 0, 0.25),)
    f = set_figures(_run(anchors, students, comparisons, costs=costs))
    # QWK, k = 4: observed weighted disagreement (1 + 4) / 9; expected (1/4)(14 + 6 + 2*6)/9.
    assert f.qwk == pytest.approx(1 - (5 / 9) / (32 / 36))  # 0.375
    assert (f.exact, f.adjacent) == (0.5, 0.75)
    assert f.spearman == pytest.approx(1.0)
    assert f.quantile_qwk == pytest.approx(1.0)  # same order: the scores come back exactly
    # Raters [0,1,2,3] vs [0,1,2,2]: observed 1/9, expected 32/36.
    assert f.human_qwk == pytest.approx(1 - (1 / 9) / (32 / 36))  # 0.875
    theta = [-2.0, 2.0, -1.5, -0.2, 0.5, 1.0]
    score = [0, 3, 0, 1, 2, 3]
    mt, ms = sum(theta) / 6, sum(score) / 6
    sxy = sum((t - mt) * (s - ms) for t, s in zip(theta, score, strict=True))
    sxx = sum((t - mt) ** 2 for t in theta)
    syy = sum((s - ms) ** 2 for s in score)
    assert f.truth_reliability == pytest.approx(sxy**2 / (sxx * syy))
    assert (f.reliability, f.ssr, f.alignment_tau) == (0.8, 0.75, 1.0)
    assert f.length_spearman == pytest.approx(0.8)  # words 3,6,5,10 (+ id) vs 0,1,2,3: d = 0,1,1,0
    assert (f.n_comparisons, f.n_failed) == (3, 1)
    assert f.comparisons_per_essay == pytest.approx(3 / 6)
    assert (f.input_tokens, f.output_tokens, f.cost_usd) == (1000, 200, 0.25)
    assert f.grades_available and f.grades_reason is None


def test_no_grades_is_reported_not_invented() -> None:
    anchors = [(_essay("a0", 0), -1.0), (_essay("a3", 3), 1.0)]
    students = [(_essay("s1", 0), -0.5, None), (_essay("s2", 3), 0.5, None)]
    f = set_figures(_run(anchors, students, [],
                         grades=GradesSection(available=False, reason="grade projection failed: x",
                                              grade_scale=None)))
    assert f.qwk is None and f.exact is None and not f.grades_available
    assert f.grades_reason == "grade projection failed: x"
    assert f.nearest_anchor_qwk is None and f.human_qwk is None  # nothing fitted, no rater 2
    assert f.spearman == pytest.approx(1.0)


def test_nearest_anchor_on_a_symmetric_design() -> None:
    """X draws with the top anchor and beats the bottom one as the top anchor does: X sits on
    the top anchor; Y mirrors it at the bottom. Nearest anchors: 3 for X, 0 for Y."""
    anchors = [(_essay("a0", 0), 0.0), (_essay("a3", 3), 0.0)]
    students = [(_essay("x", 3), 0.0, "3"), (_essay("y", 1), 0.0, "0")]
    comparisons = [_comparison(0, "anchor-a3", "anchor-a0", 0.9),
                   _comparison(1, "student-x", "anchor-a0", 0.9),
                   _comparison(2, "student-x", "anchor-a3", 0.5),
                   _comparison(3, "student-y", "anchor-a3", 0.1),
                   _comparison(4, "student-y", "anchor-a0", 0.5)]
    run = _run(anchors, students, comparisons)
    assert nearest_anchor_grades(run) == [3, 0]
    # QWK of [3, 0] against [3, 1] on 0-3: observed 1/9, expected (10 + 4) / (2 * 9).
    assert set_figures(run).nearest_anchor_qwk == pytest.approx(1 - (1 / 9) / (14 / 18))
    assert math.isclose(1 - (1 / 9) / (14 / 18), 6 / 7)
