"""Grade projection: the ordinal model's maths, input checks and invariances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import expit
from scipy.stats import norm

from cjgrade.errors import InputError
from cjgrade.stats.grading import (
    GradePrior,
    fit_grade_model,
    leave_one_anchor_out,
    project_grades,
)
from cjgrade.stats.grading_model import (
    PriorSettings,
    cumulative_probabilities,
    negative_log_posterior,
    prior_quantiles,
)

# An ENG5-like anchor set: 12 anchors on 9 grades (F+ x2, one each E-..C+, B x2, A x2).
ENG5_GRADES = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 7, 8, 8])
SWEDISH_PRIORS = np.array([0.02, 0.08, 0.15, 0.20, 0.25, 0.15, 0.10, 0.05])


def eng5_anchors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    theta = 0.9 * ENG5_GRADES - 3.5 + rng.normal(0.0, 0.4, ENG5_GRADES.size)
    se = rng.uniform(0.6, 1.4, ENG5_GRADES.size)
    return theta, se


def test_mixture_matches_the_logistic_without_measurement_error() -> None:
    """With se = 0 the cumulative probability is the logistic CDF within 1e-6."""
    x = np.linspace(-40.0, 40.0, 4001)
    got = cumulative_probabilities(np.array([0.0]), 1.0, -x, np.zeros_like(x))[:, 0]
    assert np.max(np.abs(got - expit(x))) < 1e-6


@pytest.mark.parametrize(("beta", "se"), [(0.5, 0.3), (2.0, 1.0), (6.0, 2.0), (10.0, 0.05)])
def test_mixture_matches_numerical_integration(beta: float, se: float) -> None:
    """The closed form equals the logistic-normal integral computed by adaptive quadrature."""
    for x in (-3.0, -0.7, 0.0, 0.4, 2.5):
        exact, _ = integrate.quad(
            lambda t, x=x: expit(beta * (x - t)) * norm.pdf(t, 0.0, se),
            -12 * se,
            12 * se,
            points=[x],
            limit=200,
        )
        got = cumulative_probabilities(np.array([x]), beta, np.zeros(1), np.array([se]))[0, 0]
        assert abs(got - exact) < 2e-6


@pytest.mark.parametrize("below", [False, True])
def test_gradient_matches_finite_differences(rng: np.random.Generator, below: bool) -> None:
    """The analytic gradient of the negative log posterior equals central differences."""
    q = prior_quantiles(np.full(9, 1 / 9), below)
    ps = PriorSettings(q, np.diff(q), 5.0, 0.75, 1.0, 1.0, 3.0)
    z = rng.normal(0.0, 1.0, 12)
    se = np.where(rng.random(12) < 0.3, 0.0, rng.uniform(0.1, 0.6, 12))
    cat = ENG5_GRADES + (1 if below else 0)
    params = np.concatenate([[q[0]], np.log(np.diff(q)), [0.1, 1.5]]) + rng.normal(
        0, 0.2, q.size + 2
    )
    _, grad = negative_log_posterior(params, z, se, cat, ps)
    h = 1e-5
    for k in range(params.size):
        e = np.zeros_like(params)
        e[k] = h
        up, _ = negative_log_posterior(params + e, z, se, cat, ps)
        down, _ = negative_log_posterior(params - e, z, se, cat, ps)
        assert abs((up - down) / (2 * h) - grad[k]) < 1e-5 * max(1.0, abs(grad[k]))


def test_projection_is_a_real_distribution(rng: np.random.Generator) -> None:
    """Probabilities are non-negative, sum to one, and an uncertain essay is not one-hot."""
    theta, se = eng5_anchors(rng)
    model = fit_grade_model(theta, se, ENG5_GRADES, 9)
    grid = np.linspace(-8, 6, 57)
    proj = project_grades(model, grid, np.full(grid.size, 1.0))
    assert np.all(proj.probabilities >= 0)
    assert np.allclose(proj.probabilities.sum(axis=1), 1.0)
    mid = np.argmin(np.abs(grid - model.cut_points[4]))
    assert proj.confidence[mid] < 0.7
    assert np.all((proj.certainty >= 0) & (proj.certainty <= 1))
    assert np.array_equal(proj.confidence, proj.probabilities.max(axis=1))


def test_confidence_and_certainty_definitions() -> None:
    """Confidence is the max probability; certainty is 1 - H/ln(K), near 1 far from all cuts."""
    model = fit_grade_model([-2.0, -1.9, 2.0, 2.1], [0.1] * 4, [0, 0, 1, 1], 2)
    proj = project_grades(model, [-30.0, 30.0, 0.0], [0.0, 0.0, 0.0])
    assert proj.most_likely[:2].tolist() == [0, 1]
    assert proj.certainty[0] > 0.99 and proj.confidence[0] > 0.999
    p = proj.probabilities[2]
    entropy = -np.sum(p * np.log(p))
    assert proj.certainty[2] == pytest.approx(1 - entropy / np.log(2))


def test_cut_points_are_ordered_and_unanchored_grades_get_bands(rng: np.random.Generator) -> None:
    """Grades without anchors still get ordered cut-points and are most likely somewhere."""
    grades = np.array([0, 0, 3, 3, 7, 7])
    theta = np.array([-3.0, -2.8, 0.0, 0.2, 3.0, 3.3])
    model = fit_grade_model(theta, np.full(6, 0.3), grades, 8, population_priors=SWEDISH_PRIORS)
    assert np.all(np.diff(model.cut_points) > 0)
    grid = np.linspace(-6, 6, 2401)
    proj = project_grades(model, grid, np.zeros(grid.size))
    assert set(proj.most_likely.tolist()) == set(range(8))
    assert np.all(np.diff(proj.most_likely) >= 0)


def test_population_priors_shape_unanchored_band_widths() -> None:
    """With only the extreme grades anchored, more population mass means a wider band."""
    theta = np.array([-3.0, -2.9, 3.0, 3.1])
    grades = np.array([0, 0, 3, 3])
    wide_middle = fit_grade_model(
        theta, [0.2] * 4, grades, 4, population_priors=[0.1, 0.1, 0.7, 0.1]
    )
    narrow_middle = fit_grade_model(
        theta, [0.2] * 4, grades, 4, population_priors=[0.1, 0.7, 0.1, 0.1]
    )
    w1 = np.diff(wide_middle.cut_points)
    w2 = np.diff(narrow_middle.cut_points)
    assert w1[1] > 2 * w1[0]  # grade 2 (share 0.7) is wider than grade 1 (0.1)
    assert w2[0] > 2 * w2[1]


def test_below_lowest_only_far_below_the_lowest_anchor(rng: np.random.Generator) -> None:
    """The below-lowest grade is unlikely at the lowest anchors and most likely far below them."""
    theta, se = eng5_anchors(rng)
    model = fit_grade_model(theta, se, ENG5_GRADES, 9, below_lowest=True)
    assert model.category_grades[0] == -1 and model.below_lowest
    lowest = theta[ENG5_GRADES == 0].mean()
    band = model.cut_points[1] - model.cut_points[0]
    near, far = project_grades(model, [lowest, lowest - 3 * band], [0.5, 0.5]).probabilities[:, 0]
    assert near < 0.2
    assert far > 0.5
    grid = np.linspace(-12, 0, 49)
    p_below = project_grades(model, grid, np.full(grid.size, 0.8)).probabilities[:, 0]
    assert np.all(np.diff(p_below) <= 1e-12)
    plain = fit_grade_model(theta, se, ENG5_GRADES, 9, below_lowest=False)
    assert plain.category_grades == tuple(range(9))
    assert project_grades(model, [lowest - 10], [0.1]).most_likely[0] == -1


def test_below_lowest_anchor_is_used_when_allowed() -> None:
    """An anchor graded below-lowest (-1) is accepted only when the scale allows it."""
    theta = [-5.0, -2.0, -1.8, 1.0, 1.2]
    grades = [-1, 0, 0, 1, 1]
    model = fit_grade_model(theta, [0.3] * 5, grades, 2, below_lowest=True)
    assert project_grades(model, [-5.0], [0.3]).most_likely[0] == -1
    with pytest.raises(InputError, match="below-lowest is allowed only"):
        fit_grade_model(theta, [0.3] * 5, grades, 2)


@pytest.mark.parametrize(
    ("theta", "se", "grades", "n_grades", "message"),
    [
        ([0.0, 1.0, 2.0], [0.1] * 3, [2, 2, 2], 8, "at least two distinct grades"),
        ([0.0], [0.1], [1], 8, "at least two distinct grades"),
        ([0.0, 1.0], [0.1] * 3, [0, 1], 8, "differ in length"),
        ([0.0, 1.0], [0.1, -0.1], [0, 1], 8, "non-negative"),
        ([0.0, np.nan], [0.1, 0.1], [0, 1], 8, "finite"),
        ([0.0, 1.0], [0.1, 0.1], [0, 8], 8, "outside"),
        ([0.0, 1.0], [0.1, 0.1], [0, 1.5], 8, "integers"),
        ([1.0, 1.0], [0.1, 0.1], [0, 1], 8, "all equal"),
        ([0.0, 1.0], [0.1, 0.1], [0, 1], 1, "at least 2 grades"),
    ],
)
def test_bad_anchor_input_is_an_input_error(
    theta: list[float], se: list[float], grades: list[float], n_grades: int, message: str
) -> None:
    """Insufficient or malformed anchors raise InputError, never a silent default."""
    with pytest.raises(InputError, match=message):
        fit_grade_model(theta, se, grades, n_grades)


def test_bad_population_priors_and_prior_settings_are_rejected() -> None:
    """Population priors must match the scale and sum to one; prior settings must be positive."""
    with pytest.raises(InputError, match="population_priors"):
        fit_grade_model([0.0, 1.0], [0.1, 0.1], [0, 1], 3, population_priors=[0.5, 0.5])
    with pytest.raises(InputError, match="gap_sd"):
        GradePrior(gap_sd=0.0)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    shift=st.floats(-50, 50),
    stretch=st.floats(0.2, 5.0),
)
def test_shift_and_scale_invariance(seed: int, shift: float, stretch: float) -> None:
    """Shifting all thetas, or scaling thetas and SEs together, leaves the grades unchanged."""
    rng = np.random.default_rng(seed)
    theta, se = eng5_anchors(rng)
    students = rng.normal(0, 2, 20)
    s_se = rng.uniform(0.2, 1.5, 20)
    base = project_grades(fit_grade_model(theta, se, ENG5_GRADES, 9), students, s_se)
    moved = fit_grade_model(stretch * theta + shift, stretch * se, ENG5_GRADES, 9)
    again = project_grades(moved, stretch * students + shift, stretch * s_se)
    assert np.allclose(base.probabilities, again.probabilities, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), se=st.floats(0.0, 3.0))
def test_higher_theta_never_lowers_the_expected_grade(seed: int, se: float) -> None:
    """At a fixed SE the grade distribution is stochastically increasing in theta."""
    rng = np.random.default_rng(seed)
    theta, a_se = eng5_anchors(rng)
    model = fit_grade_model(theta, a_se, ENG5_GRADES, 9, below_lowest=bool(seed % 2))
    grid = np.sort(rng.uniform(-12, 10, 60))
    proj = project_grades(model, grid, np.full(grid.size, se))
    assert np.all(np.diff(proj.expected) >= -1e-9)
    cum = np.cumsum(proj.probabilities, axis=1)
    assert np.all(np.diff(cum, axis=0) <= 1e-9)


def test_leave_one_out_is_perfect_for_well_separated_anchors() -> None:
    """Anchors far apart with small SEs are each predicted exactly from the others."""
    grades = np.repeat(np.arange(5), 3)
    theta = 3.0 * grades + np.tile([-0.2, 0.0, 0.2], 5)
    result = leave_one_anchor_out(theta, np.full(15, 0.1), grades, 5)
    assert result.n_evaluated == 15
    assert result.exact_accuracy == 1.0 and result.within_one_accuracy == 1.0
    assert result.mean_p_true is not None and result.mean_p_true > 0.5


def test_leave_one_out_reports_what_it_could_not_evaluate() -> None:
    """With one anchor per grade on two grades nothing can be evaluated: None, not a number."""
    result = leave_one_anchor_out([0.0, 2.0], [0.2, 0.2], [0, 1], 3)
    assert result.n_evaluated == 0 and not result.evaluated.any()
    assert result.exact_accuracy is None and result.within_one_accuracy is None
    partial = leave_one_anchor_out([0.0, 0.1, 2.0], [0.2] * 3, [0, 0, 1], 3)
    assert partial.evaluated.tolist() == [True, True, False]
    assert partial.predicted[2] == -2 and np.isnan(partial.p_true[2])


def test_leave_one_out_on_eng5_like_anchors_is_within_one(rng: np.random.Generator) -> None:
    """ENG5-like anchors in the right order with realistic SEs are predicted within one grade."""
    theta, se = eng5_anchors(rng)
    result = leave_one_anchor_out(theta, se, ENG5_GRADES, 9, below_lowest=True)
    assert result.n_evaluated == 12
    assert result.within_one_accuracy is not None and result.within_one_accuracy >= 0.9


def test_grossly_misplaced_anchor_keeps_a_finite_fit() -> None:
    """An anchor far on the wrong side (no SE) gives a finite posterior and gradient."""
    q = prior_quantiles(np.full(4, 0.25), False)
    ps = PriorSettings(q, np.diff(q), 10.0, 0.75, 1.0, 1.0, 3.0)
    params = np.concatenate([[q[0]], np.log(np.diff(q)), [0.0, np.log(50.0)]])
    value, grad = negative_log_posterior(
        params, np.array([-1.0, 0.0, 1.0, 30.0]), np.zeros(4), np.array([0, 1, 3, 0]), ps
    )
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    model = fit_grade_model([-1.0, -0.9, 0.0, 1.0, 30.0], [0.0] * 5, [0, 0, 1, 3, 0], 4)
    assert np.all(np.diff(model.cut_points) > 0) and np.isfinite(model.slope)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_grades=st.integers(2, 9),
    n=st.integers(2, 30),
    unit=st.floats(0.01, 100.0),
    noise=st.sampled_from([0.0, 0.3, 3.0]),
    se_unit=st.sampled_from([0.0, 0.1, 1.0, 5.0]),
    below=st.booleans(),
)
def test_fit_succeeds_on_arbitrary_anchor_sets(
    seed: int, n_grades: int, n: int, unit: float, noise: float, se_unit: float, below: bool
) -> None:
    """Any valid anchor set (ordered or scrambled, any units and SEs) yields an ordered model."""
    rng = np.random.default_rng(seed)
    grades = rng.integers(0, n_grades, n)
    grades[:2] = [0, n_grades - 1]
    theta = unit * (grades + rng.normal(0, noise, n)) + rng.normal(0, 100)
    se = unit * se_unit * rng.uniform(0.5, 1.5, n)
    pop = rng.dirichlet(np.full(n_grades, 2.0)) + 1e-3
    model = fit_grade_model(
        theta, se, grades, n_grades, population_priors=pop / pop.sum(), below_lowest=below
    )
    assert np.all(np.diff(model.cut_points) > 0) and model.slope > 0
    proj = project_grades(model, theta, se)
    assert np.allclose(proj.probabilities.sum(axis=1), 1.0)
