"""Quality checks: when a result is degenerate and must not be presented as grades."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cjgrade.errors import InputError
from cjgrade.stats.quality import (
    QualityThresholds,
    assess_quality,
    modal_guess_accuracy,
)

EIGHT = np.arange(8)  # one anchor per grade, as in the bundled sample
STUDENTS = np.array([0, 1, 1, 2, 3, 3, 4, 5, 6, 7])


def codes(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.code for r in report.reasons]


def test_a_sound_result_is_ok() -> None:
    """High reliability, anchors and students spread, LOO better than guessing: ok, no reason."""
    loo = np.array([0, 2, 1, 3, 4, 6, 5, 7])
    report = assess_quality({"posterior_reliability": 0.9, "ssr": 0.88}, anchor_grades=EIGHT,
                            anchor_predicted=EIGHT, student_predicted=STUDENTS,
                            loo_evaluated=np.ones(8, bool), loo_predicted=loo)
    assert report.status == "ok" and report.grades_reliable and report.reasons == ()
    assert set(report.checks.values()) == {"passed"}
    assert report.figures["reliability"] == 0.88
    assert report.figures["reliability_source"] == "ssr"


def test_the_demo_figures_are_ok() -> None:
    """The bundled demo's figures (reliability 0.89, one anchor per grade, LOO exact 1 of 8
    -- the modal guess's 1/8 -- and within one grade 7 of 8) pass: an exact tie with the
    guess is not even a warning."""
    loo = np.array([0, 2, 3, 4, 3, 7, 5, 6])
    report = assess_quality({"posterior_reliability": 0.90, "ssr": 0.89}, anchor_grades=EIGHT,
                            anchor_predicted=EIGHT, student_predicted=STUDENTS,
                            loo_evaluated=np.ones(8, bool), loo_predicted=loo)
    assert report.figures["loo_exact"] == 0.125 == report.figures["modal_guess_exact"]
    assert report.figures["loo_within_one"] == 0.875
    assert report.status == "ok"


def test_near_zero_reliability_is_degenerate() -> None:
    """Reliability 0.03 (the 'every student F' case) is degenerate whatever the grades say."""
    report = assess_quality({"posterior_reliability": 0.03})
    assert report.status == "degenerate" and not report.grades_reliable
    assert codes(report) == ["low_reliability"]
    assert "0.03" in report.reasons[0].message and "budget" in report.reasons[0].message
    assert report.checks["anchor_spread"] == "skipped"


@pytest.mark.parametrize("figures", [{}, {"ssr": None}, {"ssr": math.nan,
                                                          "posterior_reliability": None}])
def test_missing_reliability_is_degenerate(figures: dict[str, float | None]) -> None:
    """No finite reliability figure at all is degenerate (reliability_missing)."""
    report = assess_quality(figures)
    assert report.status == "degenerate" and codes(report) == ["reliability_missing"]
    assert report.figures["reliability"] is None


def test_the_lower_reliability_figure_counts() -> None:
    """A posterior reliability of 0.9 does not hide an SSR of 0.4; a NaN figure is ignored."""
    report = assess_quality({"posterior_reliability": 0.9, "ssr": 0.4})
    assert report.status == "degenerate" and report.figures["reliability_source"] == "ssr"
    report = assess_quality({"posterior_reliability": 0.9, "ssr": math.nan})
    assert report.status == "ok" and report.figures["reliability"] == 0.9


@pytest.mark.parametrize(("value", "status"), [(0.49, "degenerate"), (0.5, "warning"),
                                               (0.69, "warning"), (0.7, "ok")])
def test_reliability_thresholds(value: float, status: str) -> None:
    """Below 0.5 degenerate, in [0.5, 0.7) a warning (modest_reliability), from 0.7 ok."""
    report = assess_quality({"posterior_reliability": value})
    assert report.status == status
    if status == "warning":
        assert codes(report) == ["modest_reliability"] and report.grades_reliable


def test_all_anchors_predicted_one_grade_is_degenerate() -> None:
    """A grade model that gives every anchor the same grade, with anchors over 8 grades."""
    report = assess_quality({"ssr": 0.95}, anchor_grades=EIGHT,
                            anchor_predicted=np.zeros(8, int), student_predicted=STUDENTS)
    assert report.status == "degenerate" and codes(report) == ["anchors_one_grade"]
    assert report.figures["anchor_predicted_grades"] == 1
    assert "8 grades" in report.reasons[0].message


def test_all_students_one_grade_needs_five_students() -> None:
    """16 students all F with anchors over 8 grades is degenerate; 4 students sharing a grade
    are not checked (skipped)."""
    report = assess_quality({"ssr": 0.95}, anchor_grades=EIGHT, anchor_predicted=EIGHT,
                            student_predicted=np.zeros(16, int))
    assert report.status == "degenerate" and codes(report) == ["students_one_grade"]
    few = assess_quality({"ssr": 0.95}, anchor_grades=EIGHT, anchor_predicted=EIGHT,
                         student_predicted=np.full(4, 3))
    assert few.status == "ok" and few.checks["student_spread"] == "skipped"


def test_spread_checks_need_anchors_of_two_grades() -> None:
    """With every anchor of one grade the spread checks do not apply."""
    report = assess_quality({"ssr": 0.95}, anchor_grades=np.full(4, 2),
                            anchor_predicted=np.full(4, 2), student_predicted=np.full(9, 2))
    assert report.status == "ok"
    assert report.checks["anchor_spread"] == report.checks["student_spread"] == "skipped"


def test_modal_guess_known_values() -> None:
    """Exact and within-one accuracy of always guessing the modal anchor grade."""
    assert modal_guess_accuracy(EIGHT) == pytest.approx((1 / 8, 22 / 64))
    assert modal_guess_accuracy([0, 0, 0, 1]) == pytest.approx((0.75, 1.0))
    assert modal_guess_accuracy([0, 0, 1, 1]) == pytest.approx((0.5, 1.0))
    assert modal_guess_accuracy([0, 0, 3, 3]) == pytest.approx((0.5, 0.5))
    assert modal_guess_accuracy([0, 0, 3, 3], [True, False, False, False]) == (0.5, 0.5)
    assert modal_guess_accuracy([0, 0, 0, 3], [False, False, False, True]) == (0.0, 0.0)
    with pytest.raises(InputError):
        modal_guess_accuracy([0, 1], [False, False])


def test_loo_no_better_than_guessing_is_degenerate() -> None:
    """LOO predicting every anchor F (1 of 8 exact, 2 of 8 within one) is no better than the
    modal guess (1/8, 22/64): loo_at_chance."""
    report = assess_quality({"ssr": 0.95}, anchor_grades=EIGHT,
                            loo_evaluated=np.ones(8, bool), loo_predicted=np.zeros(8, int))
    assert report.status == "degenerate" and codes(report) == ["loo_at_chance"]
    assert report.figures["loo_within_one"] == 0.25
    assert report.figures["modal_guess_within_one"] == pytest.approx(22 / 64)


def test_loo_worse_on_exact_but_better_within_one_is_a_warning() -> None:
    """Grades 0,0,0,1,2,3 predicted one step off every time: exact 0 < 0.5 but within one
    1.0 > 0.67, a warning (loo_exact_below_chance), grades stay reliable."""
    report = assess_quality({"ssr": 0.95}, anchor_grades=[0, 0, 0, 1, 2, 3],
                            loo_evaluated=np.ones(6, bool), loo_predicted=[1, 1, 1, 2, 3, 2])
    assert report.status == "warning" and codes(report) == ["loo_exact_below_chance"]
    assert report.grades_reliable


def test_loo_needs_four_evaluated_anchors() -> None:
    """With three evaluated anchors the LOO check is skipped; unevaluated ones are ignored."""
    evaluated = np.array([True, True, True, False, False, False, False, False])
    report = assess_quality({"ssr": 0.95}, anchor_grades=EIGHT, loo_evaluated=evaluated,
                            loo_predicted=np.full(8, -2))
    assert report.checks["leave_one_anchor_out"] == "skipped" and report.status == "ok"


def test_reasons_are_ordered_degenerate_first() -> None:
    """A warning and a degenerate finding: status degenerate, the degenerate reason first."""
    report = assess_quality({"ssr": 0.6}, anchor_grades=EIGHT,
                            anchor_predicted=np.full(8, 4), student_predicted=STUDENTS)
    assert report.status == "degenerate"
    assert codes(report) == ["anchors_one_grade", "modest_reliability"]
    assert [r.severity for r in report.reasons] == ["degenerate", "warning"]


def test_custom_thresholds() -> None:
    """Thresholds are parameters; inconsistent ones are refused."""
    strict = QualityThresholds(reliability_degenerate=0.8, reliability_warning=0.9)
    assert assess_quality({"ssr": 0.75}, thresholds=strict).status == "degenerate"
    with pytest.raises(InputError):
        QualityThresholds(reliability_degenerate=0.8, reliability_warning=0.7)


def test_bad_inputs_raise() -> None:
    """Mismatched lengths and non-integer grades are InputError, not numpy errors."""
    with pytest.raises(InputError):
        assess_quality({"ssr": 0.9}, anchor_grades=EIGHT, anchor_predicted=[0, 1])
    with pytest.raises(InputError):
        assess_quality({"ssr": 0.9}, anchor_grades=[0.5, 1.0])
    with pytest.raises(InputError):
        assess_quality({"ssr": 0.9}, anchor_grades=EIGHT, loo_evaluated=[True],
                       loo_predicted=EIGHT)
