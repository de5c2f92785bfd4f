"""Is a result fit to be presented as grades? Checks for a degenerate scale or grade model.

Entry point::

    assess_quality(reliabilities, *, anchor_grades=None, anchor_predicted=None,
                   student_predicted=None, loo_evaluated=None, loo_predicted=None,
                   thresholds=QualityThresholds()) -> QualityReport
        .status       "ok" | "warning" | "degenerate"
        .reasons      (QualityReason(code, severity, message), ...): what was found, what to do
        .checks       {check name: "passed" | "warning" | "degenerate" | "skipped"}
        .grades_reliable

A result is **degenerate** (its grades must not be used) when any of these holds:

1. ``low_reliability`` / ``reliability_missing`` -- the lowest of the reliability figures given
   is below ``reliability_degenerate`` (0.5), or none is a finite number. At 0.5 the separation
   index ``G = sqrt(r / (1 - r))`` is 1: the true spread of the essays equals the measurement
   error, and the scale distinguishes fewer than two strata of essays ((4G + 1) / 3 = 1.7).
   Below it, differences between essays -- and the grades projected from them -- are mostly
   noise. (The engine uses the same 0.5 before it trusts its stability rule.)
2. ``anchors_one_grade`` -- the fitted grade model gives every anchor the same most likely
   grade although the anchors' expert grades span several grades; ``students_one_grade`` --
   every student gets the same most likely grade although the anchors span several grades
   (checked with at least ``min_students`` students: a handful of students can share a grade).
3. ``loo_at_chance`` -- leave-one-anchor-out predicts the held-out anchors no better than always
   guessing the most common anchor grade (:func:`modal_guess_accuracy`), on exact agreement
   **and** within one grade (checked with at least ``min_loo_anchors`` evaluated anchors).

Warnings (the grades stand, with a caveat): the reliability is below ``reliability_warning``
(0.7, the usual minimum for low-stakes use; ``G`` = 1.5) but not below 0.5
(``modest_reliability``); leave-one-anchor-out gets fewer exact grades than the modal guess
but more within one grade (``loo_exact_below_chance``). An exact tie with the modal guess is
not warned about: with one anchor per grade each held-out anchor is predicted by a model that
has never seen its grade, so exact agreement at the guess's ``1 / n`` is common in sound runs.

Grade indices follow :mod:`cjgrade.stats.grading`: integers, lowest grade 0, ``-1`` the
below-lowest grade; only equality and differences of one are used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cjgrade.errors import InputError

__all__ = [
    "DEGENERATE",
    "OK",
    "WARNING",
    "QualityReason",
    "QualityReport",
    "QualityThresholds",
    "assess_quality",
    "modal_guess_accuracy",
]

OK = "ok"
WARNING = "warning"
DEGENERATE = "degenerate"
SKIPPED = "skipped"
PASSED = "passed"

IntArray = NDArray[np.intp]

_LABELS = {"ssr": "SSR", "posterior_reliability": "posterior reliability"}


@dataclass(frozen=True)
class QualityThresholds:
    """Where the checks draw their lines (see the module docstring for why).

    Attributes
    ----------
    reliability_degenerate : below this reliability the result is degenerate.
    reliability_warning : below this (and not below the former) a warning.
    min_students : the all-students-one-grade check needs at least this many students.
    min_loo_anchors : the leave-one-anchor-out check needs at least this many evaluated anchors.
    """

    reliability_degenerate: float = 0.5
    reliability_warning: float = 0.7
    min_students: int = 5
    min_loo_anchors: int = 4

    def __post_init__(self) -> None:
        if not 0.0 <= self.reliability_degenerate <= self.reliability_warning <= 1.0:
            raise InputError("need 0 <= reliability_degenerate <= reliability_warning <= 1")
        if self.min_students < 2 or self.min_loo_anchors < 1:
            raise InputError("min_students must be >= 2 and min_loo_anchors >= 1")


@dataclass(frozen=True)
class QualityReason:
    """One finding: a stable ``code``, its ``severity`` (``warning`` or ``degenerate``) and a
    sentence that gives the figures and says what to do."""

    code: str
    severity: str
    message: str


@dataclass(frozen=True)
class QualityReport:
    """The verdict on a result.

    Attributes
    ----------
    status : ``ok``, ``warning`` or ``degenerate`` (the worst severity among the reasons).
    reasons : the findings, most severe first.
    checks : per check (``reliability``, ``anchor_spread``, ``student_spread``,
        ``leave_one_anchor_out``): ``passed``, ``warning``, ``degenerate`` or ``skipped``.
    figures : the numbers the checks used (None where not available).
    thresholds : the thresholds applied.
    """

    status: str
    reasons: tuple[QualityReason, ...]
    checks: dict[str, str]
    figures: dict[str, float | int | str | None]
    thresholds: QualityThresholds = field(default_factory=QualityThresholds)

    @property
    def grades_reliable(self) -> bool:
        """False when the result is degenerate: its grades must not be used."""
        return self.status != DEGENERATE


def _ints(name: str, values: ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional")
    if arr.size and not np.all(np.isfinite(arr.astype(np.float64))):
        raise InputError(f"{name} must hold finite grade indices")
    as_int = arr.astype(np.intp)
    if arr.size and np.any(as_int != arr):
        raise InputError(f"{name} must hold integer grade indices")
    return as_int


def modal_guess_accuracy(
    grades: ArrayLike, evaluated: ArrayLike | None = None
) -> tuple[float, float]:
    """Exact and within-one accuracy, over the ``evaluated`` anchors (default: all), of always
    guessing the most common anchor grade; tied modes are shared equally (the expected
    accuracy of picking one of them at random).

    The mode is taken over all anchors, so the guess knows the grade counts the held-out
    anchor belongs to: a slightly generous baseline, which makes the check conservative.
    With one anchor per grade it is ``1 / n`` exact, and a model that puts every anchor in
    one grade scores exactly that.

    Raises
    ------
    InputError
        With no anchors or none evaluated.
    """
    g = _ints("grades", grades)
    mask = np.ones(g.size, dtype=np.bool_) if evaluated is None else np.asarray(evaluated, bool)
    if g.size < 1 or mask.shape != g.shape or not mask.any():
        raise InputError("the modal guess needs at least one anchor, evaluated")
    values, counts = np.unique(g, return_counts=True)
    modes = values[counts == counts.max()]
    held = g[mask]
    exact = np.mean(held[:, None] == modes[None, :])
    within = np.mean(np.abs(held[:, None] - modes[None, :]) <= 1)
    return float(exact), float(within)


def _check_reliability(
    reliabilities: Mapping[str, float | None], t: QualityThresholds
) -> tuple[str, QualityReason | None, dict[str, float | int | str | None]]:
    finite = {k: float(v) for k, v in reliabilities.items()
              if v is not None and math.isfinite(float(v))}
    if not finite:
        names = ", ".join(reliabilities) or "none given"
        return DEGENERATE, QualityReason(
            "reliability_missing", DEGENERATE,
            f"No reliability could be computed ({names}): the comparisons do not form a usable "
            "scale. Check that the judge's verdicts succeeded and that the comparisons connect "
            "every essay, then increase the budget.",
        ), {"reliability": None, "reliability_source": None}
    source = min(finite, key=lambda k: finite[k])
    value = finite[source]
    figures: dict[str, float | int | str | None] = {"reliability": value,
                                                    "reliability_source": source}
    label = _LABELS.get(source, source.replace("_", " "))
    shown = f"{value:.2f}" if value > -10 else f"{value:.2g}"
    if value < t.reliability_degenerate:
        return DEGENERATE, QualityReason(
            "low_reliability", DEGENERATE,
            f"The scale's reliability is {shown} ({label}), below "
            f"{t.reliability_degenerate:g}: the differences between essays are mostly noise, "
            "so grades projected from them mean nothing. Increase the budget (more comparisons "
            "per essay) and check the judge: a judge that answers at random, or always picks "
            "the same position, produces no scale.",
        ), figures
    if value < t.reliability_warning:
        return WARNING, QualityReason(
            "modest_reliability", WARNING,
            f"The scale's reliability is {shown} ({label}), below "
            f"{t.reliability_warning:g}: neighbouring essays are not reliably ordered and many "
            "grades could move by one step. Increase the budget for a firmer scale.",
        ), figures
    return PASSED, None, figures


def _check_spread(
    anchor_grades: IntArray | None, anchor_predicted: IntArray | None,
    student_predicted: IntArray | None, t: QualityThresholds,
) -> tuple[str, str, list[QualityReason], dict[str, float | int | str | None]]:
    if anchor_grades is None or np.unique(anchor_grades).size < 2:
        return SKIPPED, SKIPPED, [], {"anchor_grades_spanned": None}
    spanned = int(np.unique(anchor_grades).size)
    figures: dict[str, float | int | str | None] = {"anchor_grades_spanned": spanned}
    reasons: list[QualityReason] = []
    anchors = students = SKIPPED
    if anchor_predicted is not None and anchor_predicted.size:
        if anchor_predicted.shape != anchor_grades.shape:
            raise InputError("anchor_predicted and anchor_grades differ in length")
        distinct = int(np.unique(anchor_predicted).size)
        figures["anchor_predicted_grades"] = distinct
        anchors = DEGENERATE if distinct == 1 else PASSED
        if distinct == 1:
            reasons.append(QualityReason(
                "anchors_one_grade", DEGENERATE,
                f"The grade model gives every anchor the same most likely grade although the "
                f"anchors' expert grades span {spanned} grades: it does not tell the grades "
                "apart. Check that the judge orders the anchors as the experts do (anchor "
                "alignment) and increase the budget.",
            ))
    if student_predicted is not None:
        n = int(student_predicted.size)
        figures["n_students"] = n
        if n >= t.min_students:
            distinct = int(np.unique(student_predicted).size)
            figures["student_predicted_grades"] = distinct
            students = DEGENERATE if distinct == 1 else PASSED
            if distinct == 1:
                reasons.append(QualityReason(
                    "students_one_grade", DEGENERATE,
                    f"All {n} students get the same most likely grade although the anchors "
                    f"span {spanned} grades. Check that the judge separates the essays and that "
                    "the anchors cover the students' range; increase the budget.",
                ))
    return anchors, students, reasons, figures


def _check_loo(
    anchor_grades: IntArray | None, evaluated: ArrayLike | None, predicted: ArrayLike | None,
    t: QualityThresholds,
) -> tuple[str, QualityReason | None, dict[str, float | int | str | None]]:
    if anchor_grades is None or evaluated is None or predicted is None:
        return SKIPPED, None, {}
    ev = np.asarray(evaluated, dtype=np.bool_)
    pred = _ints("loo_predicted", predicted)
    if ev.shape != anchor_grades.shape or pred.shape != anchor_grades.shape:
        raise InputError("loo_evaluated, loo_predicted and anchor_grades differ in length")
    n = int(ev.sum())
    figures: dict[str, float | int | str | None] = {"loo_evaluated": n}
    if n < t.min_loo_anchors:
        return SKIPPED, None, figures
    diff = np.abs(pred[ev] - anchor_grades[ev])
    exact, within = float(np.mean(diff == 0)), float(np.mean(diff <= 1))
    base_exact, base_within = modal_guess_accuracy(anchor_grades, ev)
    figures.update(loo_exact=exact, loo_within_one=within, modal_guess_exact=base_exact,
                   modal_guess_within_one=base_within)
    figures_text = (f"exact {exact:.2f} vs {base_exact:.2f}, within one grade {within:.2f} vs "
                    f"{base_within:.2f}, over {n} anchors")
    if exact <= base_exact and within <= base_within:
        return DEGENERATE, QualityReason(
            "loo_at_chance", DEGENERATE,
            "Leave-one-anchor-out predicts the anchors' grades no better than always guessing "
            f"the most common anchor grade ({figures_text}): the grade model has no predictive "
            "value. Check the anchors' grades and the judge; add anchors.",
        ), figures
    if exact < base_exact:
        return WARNING, QualityReason(
            "loo_exact_below_chance", WARNING,
            "Leave-one-anchor-out gets fewer exact grades than always guessing the most "
            f"common anchor grade, though it does better within one grade ({figures_text}). "
            "Treat single grade steps as uncertain; add anchors, above all for grades with "
            "only one.",
        ), figures
    return PASSED, None, figures


def assess_quality(
    reliabilities: Mapping[str, float | None],
    *,
    anchor_grades: ArrayLike | None = None,
    anchor_predicted: ArrayLike | None = None,
    student_predicted: ArrayLike | None = None,
    loo_evaluated: ArrayLike | None = None,
    loo_predicted: ArrayLike | None = None,
    thresholds: QualityThresholds | None = None,
) -> QualityReport:
    """Check a result for a degenerate scale or grade model.

    Parameters
    ----------
    reliabilities : named reliability figures (e.g. ``{"posterior_reliability": 0.9,
        "ssr": 0.88}``); the lowest finite one is checked; None or NaN entries are ignored,
        and none finite is degenerate.
    anchor_grades : expert grade index per anchor; without it only the reliability is checked.
    anchor_predicted : most likely grade per anchor under the fitted (in-sample) grade model.
    student_predicted : most likely grade per student.
    loo_evaluated, loo_predicted : from ``leave_one_anchor_out`` (``evaluated``, ``predicted``).
    thresholds : defaults to :class:`QualityThresholds`.

    Returns
    -------
    QualityReport

    Raises
    ------
    InputError
        For arrays of mismatched lengths or non-integer grade indices.
    """
    t = thresholds or QualityThresholds()
    grades = None if anchor_grades is None else _ints("anchor_grades", anchor_grades)
    a_pred = None if anchor_predicted is None else _ints("anchor_predicted", anchor_predicted)
    s_pred = None if student_predicted is None else _ints("student_predicted", student_predicted)
    rel_state, rel_reason, figures = _check_reliability(reliabilities, t)
    a_state, s_state, spread_reasons, spread_figures = _check_spread(grades, a_pred, s_pred, t)
    loo_state, loo_reason, loo_figures = _check_loo(grades, loo_evaluated, loo_predicted, t)
    figures.update(spread_figures)
    figures.update(loo_figures)
    reasons = [r for r in (rel_reason, *spread_reasons, loo_reason) if r is not None]
    reasons.sort(key=lambda r: r.severity != DEGENERATE)
    status = (DEGENERATE if any(r.severity == DEGENERATE for r in reasons)
              else WARNING if reasons else OK)
    checks = {"reliability": rel_state, "anchor_spread": a_state, "student_spread": s_state,
              "leave_one_anchor_out": loo_state}
    return QualityReport(status=status, reasons=tuple(reasons), checks=checks, figures=figures,
                         thresholds=t)
