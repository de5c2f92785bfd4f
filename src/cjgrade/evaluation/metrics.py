"""The figures of one evaluation batch, computed from the batch result and the human scores.

Definitions (students only unless said otherwise; a figure that cannot be computed is None):

- ``qwk``, ``exact``, ``adjacent``: the projected grade (the engine's most likely grade, a
  score level) against the human score: quadratic weighted kappa over the set's score range,
  the share equal, the share within one score point.
- ``nearest_anchor_qwk``: the same comparisons refitted by plain Bradley-Terry (soft outcomes,
  no position effect, prior precision 0.1); each student gets the score of the anchor whose
  ability is nearest. The simple method the product's grading must not fall behind.
- ``quantile_qwk``: the students' abilities mapped onto their own human score distribution by
  quantile matching (uses the answer's distribution; a labelled extra, not a product figure).
- ``spearman``: Spearman's rho of the engine's theta with the human scores.
- ``reliability``: the reliability the product reports (posterior reliability, the stopping
  rule's figure), beside ``ssr`` (conventional ML scale separation reliability); both over all
  essays of the batch. ``truth_reliability``: squared Pearson correlation of the engine's theta
  with the human scores over the same essays (anchors and students).
- ``alignment_tau``: Kendall's tau-b of the anchors' fitted order with their grades.
- ``human_qwk``: QWK of the two human raters on the same students (the ceiling), when the data
  have a second rater for every student.
- ``length_spearman``: Spearman's rho of the students' word counts with their scores (what a
  judge that only counts words could reach).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cjgrade.errors import ConvergenceError, InputError
from cjgrade.evaluation.run import SetRun
from cjgrade.stats.agreement import (
    map_to_score_distribution,
    quadratic_weighted_kappa,
    spearman_rho,
)
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry

__all__ = ["FIGURES", "SetFigures", "nearest_anchor_grades", "set_figures"]

PLAIN_REFIT_ALPHA = 0.1


@dataclass(frozen=True)
class SetFigures:
    """Every figure of one batch (see the module docstring)."""

    essay_set: str
    judge: str
    seed: int
    budget_per_essay: float | None
    n_students: int
    n_anchors: int
    unanchored_levels: tuple[int, ...]
    status: str
    stop_reason: str
    n_comparisons: int
    n_failed: int
    comparisons_per_essay: float
    """Successful comparisons / essays of the batch (each essay takes part in twice that)."""
    grades_available: bool
    grades_reason: str | None
    qwk: float | None
    exact: float | None
    adjacent: float | None
    nearest_anchor_qwk: float | None
    quantile_qwk: float | None
    spearman: float | None
    reliability: float | None
    ssr: float | None
    truth_reliability: float | None
    alignment_tau: float | None
    human_qwk: float | None
    length_spearman: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None


FIGURES = ("qwk", "exact", "adjacent", "nearest_anchor_qwk", "quantile_qwk", "spearman",
           "reliability", "ssr", "truth_reliability", "alignment_tau", "human_qwk",
           "length_spearman", "comparisons_per_essay", "n_comparisons", "n_failed",
           "input_tokens", "output_tokens", "cost_usd")
"""The numeric figures averaged over seeds."""


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _qwk(a: list[int], b: list[int], low: int, high: int) -> float | None:
    return _finite(quadratic_weighted_kappa(a, b, min_rating=low, max_rating=high))


def nearest_anchor_grades(run: SetRun) -> list[int] | None:
    """Each student's score from the anchor nearest in a plain Bradley-Terry refit of the
    batch's successful comparisons; None when there is nothing to fit."""
    result = run.result
    ids = [e.essay_id for e in result.essays]
    index = {essay_id: i for i, essay_id in enumerate(ids)}
    done = [c for c in result.comparisons if c.status == "succeeded" and c.p_a is not None]
    if not done:
        return None
    p = [float(c.p_a) for c in done]  # type: ignore[arg-type]
    data = PairwiseData.build(len(ids), [index[c.essay_a] for c in done],
                              [index[c.essay_b] for c in done], p,
                              soft=[0.0 < x < 1.0 for x in p])
    try:
        theta = fit_bradley_terry(data, alpha=PLAIN_REFIT_ALPHA, se_method="none").theta
    except (ConvergenceError, InputError):
        return None
    anchors = [(float(theta[index[e.essay_id]]), int(str(e.anchor_grade)))
               for e in result.anchors]
    out = []
    for essay in result.students:
        t = float(theta[index[essay.essay_id]])
        out.append(min(anchors, key=lambda a: abs(a[0] - t))[1])
    return out


def set_figures(run: SetRun) -> SetFigures:
    """The figures of one finished batch."""
    design, result = run.design, run.result
    human = {f"student-{e.essay_id}": e for e in design.students}
    human.update({f"anchor-{e.essay_id}": e for e in design.anchors})
    students = result.students
    truth = [human[e.essay_id].score for e in students]
    theta = [e.theta for e in students]
    low, high = design.levels[0], design.levels[-1]
    qwk = exact = adjacent = None
    grades_ok = result.grades.available and all(e.grade for e in students)
    if grades_ok:
        predicted = [int(e.grade.grade) for e in students if e.grade is not None]
        qwk = _qwk(predicted, truth, low, high)
        diff = np.abs(np.array(predicted) - np.array(truth))
        exact, adjacent = float(np.mean(diff == 0)), float(np.mean(diff <= 1))
    nearest = nearest_anchor_grades(run)
    mapped = map_to_score_distribution(theta, truth).astype(np.int64).tolist()
    all_theta = np.array([e.theta for e in result.essays])
    all_truth = np.array([human[e.essay_id].score for e in result.essays], dtype=np.float64)
    truth_rel = None
    if np.std(all_theta) > 0 and np.std(all_truth) > 0:
        truth_rel = float(np.corrcoef(all_theta, all_truth)[0, 1] ** 2)
    raters = [human[e.essay_id] for e in students]
    human_qwk = None
    second = [r.rater2 for r in raters if r.rater2 is not None]
    if raters and len(second) == len(raters):
        first = [r.rater1 if r.rater1 is not None else r.score for r in raters]
        human_qwk = _finite(quadratic_weighted_kappa(first, second))
    words = [len(human[e.essay_id].text.split()) for e in students]
    n_essays = len(result.essays)
    return SetFigures(
        essay_set=design.essay_set, judge=run.setup.label, seed=design.seed,
        budget_per_essay=run.budget_per_essay, n_students=len(students),
        n_anchors=len(result.anchors), unanchored_levels=design.unanchored_levels,
        status=result.status, stop_reason=result.stop_reason,
        n_comparisons=result.n_succeeded, n_failed=result.n_failed,
        comparisons_per_essay=result.n_succeeded / n_essays,
        grades_available=grades_ok,
        grades_reason=None if grades_ok else (result.grades.reason or "no grades"),
        qwk=qwk, exact=exact, adjacent=adjacent,
        nearest_anchor_qwk=None if nearest is None else _qwk(nearest, truth, low, high),
        quantile_qwk=_qwk(mapped, truth, low, high),
        spearman=_finite(spearman_rho(theta, truth)),
        reliability=_finite(result.reliability.posterior_reliability
                            if result.reliability else None),
        ssr=_finite(result.ssr),
        truth_reliability=truth_rel,
        alignment_tau=_finite(result.alignment.kendall_tau_b if result.alignment else None),
        human_qwk=human_qwk,
        length_spearman=_finite(spearman_rho(words, truth)),
        input_tokens=sum(c.input_tokens for c in result.costs),
        output_tokens=sum(c.output_tokens for c in result.costs),
        cost_usd=result.total_cost_usd,
    )
