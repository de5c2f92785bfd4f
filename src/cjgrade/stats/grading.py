"""Grade projection from anchors: an ordinal model of grade given ability, on the logit scale.

Entry points (integer grade indices ``0..n_grades-1``, lowest first; ``-1`` = below-lowest)::

    fit_grade_model(anchor_theta, anchor_se, anchor_grade_idx, n_grades, *,
                    population_priors=None, below_lowest=False, prior=GradePrior(),
                    parameter_uncertainty=True) -> GradeModel
    project_grades(model, theta, se) -> GradeProjection
        .probabilities (n, n_categories)   one column per ``model.category_grades`` entry
        .most_likely, .expected, .confidence, .certainty
    leave_one_anchor_out(anchor_theta, anchor_se, anchor_grade_idx, n_grades, **same keywords)
        -> LeaveOneOutResult (exact and within-one accuracy, per-anchor predictions)
    shrink_abilities(theta, se) -> ShrunkAbilities   # optional empirical-Bayes step, all essays

``project_grades`` treats ``N(theta, se^2)`` as the essay's ability distribution. That is right
for a BT fit with a Gaussian prior (``alpha > 0``: theta is already a posterior mode); after a
pure maximum-likelihood fit the estimates are over-dispersed (regression to the mean) and the
extreme grades come out over-confident, so pass every essay (anchors and students together)
through :func:`shrink_abilities` first and use its output for both fitting and projecting.

The model (cumulative logit with ordered cut-points, a weak prior built from the scale's
population priors, anchors' and essays' standard errors integrated out) is described in
:mod:`cjgrade.stats.grading_model` and ``docs/statistics-grading.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from cjgrade.errors import ConvergenceError, InputError
from cjgrade.stats.grading_checks import (
    BELOW_LOWEST,
    FloatArray,
    IntArray,
    as_vector,
    check_anchors,
    check_population,
)
from cjgrade.stats.grading_model import (
    PriorSettings,
    category_probabilities,
    laplace_points,
    negative_log_posterior,
    prior_quantiles,
    unpack_cuts,
)
from cjgrade.stats.grading_shrinkage import ShrunkAbilities, shrink_abilities

__all__ = [
    "GradeModel",
    "GradePrior",
    "GradeProjection",
    "LeaveOneOutResult",
    "ShrunkAbilities",
    "fit_grade_model",
    "leave_one_anchor_out",
    "project_grades",
    "shrink_abilities",
]


@dataclass(frozen=True)
class GradePrior:
    """Weak prior of the ordinal model (standardised-anchor units; see the docs).

    Attributes
    ----------
    gap_sd : SD of each log band width around the population-implied width.
    spread_sd : SD of log kappa, the population's spread relative to the anchors' SD.
    slope_sd : SD of log(beta * kappa).
    sharpness : prior centre of ``beta`` times a typical band width: 3 means an essay at the
        centre of a typical band has about 64 % probability of that band's grade.
    location_sd : SD of the lowest cut-point around its population quantile.
    """

    gap_sd: float = 0.75
    spread_sd: float = 1.0
    slope_sd: float = 1.0
    sharpness: float = 3.0
    location_sd: float = 3.0

    def __post_init__(self) -> None:
        for name in ("gap_sd", "spread_sd", "slope_sd", "sharpness", "location_sd"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"GradePrior.{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class GradeModel:
    """A fitted ordinal model of grade given ability (theta units of the BT fit).

    Attributes
    ----------
    cut_points : ordered cut-points ``c_0 < ... < c_{M-2}`` on the theta scale.
    slope : ``beta``: P(grade <= m | t) = sigmoid(slope * (c_m - t)).
    n_grades : number of named grades of the scale.
    category_grades : grade index of each category, lowest first (``-1`` = below-lowest).
    anchor_centre, anchor_scale : mean and SD of the anchors' theta (the standardisation).
    spread : fitted kappa (population spread in anchor-SD units).
    n_anchors : anchors used.
    log_posterior : log posterior density at the mode (up to a constant).
    n_iter : optimiser iterations.
    cut_point_draws, slope_draws : (S, M-1) and (S,) parameter points representing the
        posterior uncertainty of the fit (Laplace approximation, cubature points); projections
        average over them. Empty when the model is used as a plug-in (the mode only).
    """

    cut_points: FloatArray
    slope: float
    n_grades: int
    category_grades: tuple[int, ...]
    anchor_centre: float
    anchor_scale: float
    spread: float
    n_anchors: int
    log_posterior: float
    n_iter: int
    cut_point_draws: FloatArray = field(default_factory=lambda: np.empty((0, 0)))
    slope_draws: FloatArray = field(default_factory=lambda: np.empty(0))

    @property
    def below_lowest(self) -> bool:
        """Whether the model has a below-lowest category."""
        return self.category_grades[0] == BELOW_LOWEST


@dataclass(frozen=True)
class GradeProjection:
    """Grade probabilities for ``n`` essays.

    Attributes
    ----------
    probabilities : (n, n_categories); column ``k`` is grade ``category_grades[k]``; rows sum to 1.
    category_grades : grade index per column (``-1`` = below-lowest).
    most_likely : grade index with the highest probability (ties: the lower grade).
    expected : expected grade in index units, ``sum_k p_k * category_grades[k]``.
    confidence : probability of the most likely grade.
    certainty : ``1 - H(p) / ln(n_categories)``, 1 for a one-hot distribution, 0 for uniform.
    """

    probabilities: FloatArray
    category_grades: tuple[int, ...]
    most_likely: IntArray
    expected: FloatArray
    confidence: FloatArray
    certainty: FloatArray


@dataclass(frozen=True)
class LeaveOneOutResult:
    """Leave-one-anchor-out prediction: refit without each anchor, predict its grade.

    Attributes
    ----------
    evaluated : per anchor, False when removing it leaves fewer than two distinct grades.
    predicted : most likely grade index per anchor (``-2`` where not evaluated).
    expected : expected grade per anchor (NaN where not evaluated).
    p_true : probability given to the anchor's true grade (NaN where not evaluated).
    confidence : probability of the predicted grade (NaN where not evaluated); its mean is the
        exact accuracy the model expects of itself.
    n_evaluated : number of anchors evaluated.
    exact_accuracy : share of evaluated anchors whose most likely grade is the true one.
    within_one_accuracy : share within one grade index of the true grade.
    mean_p_true : mean probability of the true grade.
    """

    evaluated: NDArray[np.bool_]
    predicted: IntArray
    expected: FloatArray
    p_true: FloatArray
    confidence: FloatArray
    n_evaluated: int
    exact_accuracy: float | None
    within_one_accuracy: float | None
    mean_p_true: float | None


def _resolve_prior(population: FloatArray, below_lowest: bool, prior: GradePrior) -> PriorSettings:
    q = prior_quantiles(population, below_lowest)
    gap_centre = np.diff(q)
    typical = float(np.mean(gap_centre)) if gap_centre.size else 1.0
    return PriorSettings(
        q=q,
        gap_centre=gap_centre,
        slope_centre=prior.sharpness / typical,
        gap_sd=prior.gap_sd,
        spread_sd=prior.spread_sd,
        slope_sd=prior.slope_sd,
        location_sd=prior.location_sd,
    )


def fit_grade_model(
    anchor_theta: ArrayLike,
    anchor_se: ArrayLike,
    anchor_grade_idx: ArrayLike,
    n_grades: int,
    *,
    population_priors: ArrayLike | None = None,
    below_lowest: bool = False,
    prior: GradePrior | None = None,
    parameter_uncertainty: bool = True,
) -> GradeModel:
    """Fit the cumulative-logit grade model to anchors by maximum a posteriori.

    Parameters
    ----------
    anchor_theta, anchor_se : the anchors' BT abilities and standard errors (logit scale).
    anchor_grade_idx : each anchor's expert grade as an index ``0..n_grades-1`` (``-1`` for the
        below-lowest grade when ``below_lowest``).
    n_grades : number of named grades on the scale.
    population_priors : the scale's population share per grade (uniform when None); they shape
        the prior on band widths.
    below_lowest : add a below-lowest category under the lowest grade (ENG5 scales).
    prior : prior settings (defaults: :class:`GradePrior`).
    parameter_uncertainty : carry the uncertainty of the cut-points and slope into projections
        (Laplace approximation); False projects with the posterior mode only.

    Returns
    -------
    GradeModel

    Raises
    ------
    InputError
        Fewer than two distinct anchor grades, mismatched lengths, bad indices or priors, or
        anchors whose abilities are all equal.
    ConvergenceError
        When the optimiser fails.
    """
    settings = prior or GradePrior()
    theta, se, grades = check_anchors(
        anchor_theta, anchor_se, anchor_grade_idx, n_grades, below_lowest
    )
    population = check_population(population_priors, n_grades)
    centre = float(theta.mean())
    scale = float(theta.std())
    if not scale > 1e-9 * max(1.0, abs(centre)):
        raise InputError("the anchors' abilities are all equal; the grade scale is not identified")
    ps = _resolve_prior(population, below_lowest, settings)
    offset = 1 if below_lowest else 0
    category = grades + offset
    z = (theta - centre) / scale
    se_z = se / scale
    n_cuts = ps.q.size
    start = np.concatenate([[ps.q[0]], np.log(ps.gap_centre), [0.0], [np.log(ps.slope_centre)]])
    result = minimize(
        negative_log_posterior,
        start,
        args=(z, se_z, category, ps),
        jac=True,
        method="BFGS",
        options={"gtol": 1e-7, "maxiter": 2000},
    )
    grad_norm = float(np.max(np.abs(result.jac)))
    if not np.all(np.isfinite(result.x)) or not grad_norm <= 1e-4:
        raise ConvergenceError(
            f"grade model fit did not converge ({result.message}; max |gradient| {grad_norm:.2g})"
        )
    cuts_z = unpack_cuts(result.x, n_cuts)
    beta_z = float(np.exp(result.x[n_cuts + 1]))
    categories = tuple(range(-offset, n_grades))
    draws_cut = np.empty((0, n_cuts))
    draws_slope = np.empty(0)
    if parameter_uncertainty:
        points = laplace_points(result.x, z, se_z, category, ps)
        draws_cut = np.array([centre + scale * unpack_cuts(pt, n_cuts) for pt in points])
        draws_slope = np.exp(points[:, n_cuts + 1]) / scale
    return GradeModel(
        cut_points=np.asarray(centre + scale * cuts_z, dtype=np.float64),
        slope=beta_z / scale,
        n_grades=n_grades,
        category_grades=categories,
        anchor_centre=centre,
        anchor_scale=scale,
        spread=float(np.exp(result.x[n_cuts])),
        n_anchors=int(theta.size),
        log_posterior=-float(result.fun),
        n_iter=int(result.nit),
        cut_point_draws=draws_cut,
        slope_draws=draws_slope,
    )


def project_grades(model: GradeModel, theta: ArrayLike, se: ArrayLike) -> GradeProjection:
    """Grade probabilities for essays with abilities ``theta`` and standard errors ``se``.

    Each essay's ability is integrated over ``N(theta, se^2)`` and, when the model carries
    them, over the fit's parameter points, so the probabilities are a real distribution over
    every grade of the model (never one-hot unless the data say so).

    Raises
    ------
    InputError
        For mismatched lengths, non-finite values or negative standard errors.
    """
    t = as_vector("theta", theta)
    s = as_vector("se", se)
    if t.size != s.size:
        raise InputError(f"theta and se differ in length ({t.size} vs {s.size})")
    if np.any(s < 0):
        raise InputError("se must be non-negative")
    if model.slope_draws.size:
        probs = np.mean(
            [
                category_probabilities(cuts, float(beta), t, s)
                for cuts, beta in zip(model.cut_point_draws, model.slope_draws, strict=True)
            ],
            axis=0,
        )
    else:
        probs = category_probabilities(model.cut_points, model.slope, t, s)
    grades = np.asarray(model.category_grades, dtype=np.intp)
    best = np.argmax(probs, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.sum(np.where(probs > 0, probs * np.log(probs), 0.0), axis=1)
    certainty = 1.0 - entropy / np.log(probs.shape[1])
    return GradeProjection(
        probabilities=probs,
        category_grades=model.category_grades,
        most_likely=grades[best],
        expected=np.asarray(probs @ grades.astype(np.float64), dtype=np.float64),
        confidence=np.asarray(probs[np.arange(t.size), best], dtype=np.float64),
        certainty=np.asarray(np.clip(certainty, 0.0, 1.0), dtype=np.float64),
    )


def leave_one_anchor_out(
    anchor_theta: ArrayLike,
    anchor_se: ArrayLike,
    anchor_grade_idx: ArrayLike,
    n_grades: int,
    *,
    population_priors: ArrayLike | None = None,
    below_lowest: bool = False,
    prior: GradePrior | None = None,
    parameter_uncertainty: bool = True,
) -> LeaveOneOutResult:
    """Refit without each anchor in turn and predict its grade from its theta and SE.

    Anchors whose removal leaves fewer than two distinct grades cannot be predicted and are
    marked ``evaluated=False``; accuracies are None when no anchor could be evaluated.
    Arguments as in :func:`fit_grade_model`.
    """
    theta, se, grades = check_anchors(
        anchor_theta, anchor_se, anchor_grade_idx, n_grades, below_lowest
    )
    n = theta.size
    evaluated = np.zeros(n, dtype=np.bool_)
    predicted = np.full(n, -2, dtype=np.intp)
    expected = np.full(n, np.nan)
    p_true = np.full(n, np.nan)
    confidence = np.full(n, np.nan)
    for i in range(n):
        keep = np.arange(n) != i
        if np.unique(grades[keep]).size < 2:
            continue
        model = fit_grade_model(
            theta[keep],
            se[keep],
            grades[keep],
            n_grades,
            population_priors=population_priors,
            below_lowest=below_lowest,
            prior=prior,
            parameter_uncertainty=parameter_uncertainty,
        )
        proj = project_grades(model, theta[i : i + 1], se[i : i + 1])
        evaluated[i] = True
        predicted[i] = proj.most_likely[0]
        expected[i] = proj.expected[0]
        confidence[i] = proj.confidence[0]
        p_true[i] = proj.probabilities[0, model.category_grades.index(int(grades[i]))]
    n_eval = int(evaluated.sum())
    exact = within = mean_p = None
    if n_eval:
        diff = np.abs(predicted[evaluated] - grades[evaluated])
        exact = float(np.mean(diff == 0))
        within = float(np.mean(diff <= 1))
        mean_p = float(np.mean(p_true[evaluated]))
    return LeaveOneOutResult(
        evaluated=evaluated,
        predicted=predicted,
        expected=expected,
        p_true=p_true,
        confidence=confidence,
        n_evaluated=n_eval,
        exact_accuracy=exact,
        within_one_accuracy=within,
        mean_p_true=mean_p,
    )
