"""Grade projection recovers a known ordinal model and gives calibrated probabilities."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from cjgrade.stats.grading import (
    GradeModel,
    fit_grade_model,
    leave_one_anchor_out,
    project_grades,
    shrink_abilities,
)

TRUE_CUTS = np.array([-2.0, -0.8, 0.3, 1.5])
TRUE_SLOPE = 2.0


def draw_grades(rng: np.random.Generator, theta: np.ndarray) -> np.ndarray:
    """Grades from the latent form of the model: count the cuts below theta + logistic/slope."""
    latent = theta + rng.logistic(0.0, 1.0, theta.size) / TRUE_SLOPE
    return np.sum(latent[:, None] > TRUE_CUTS[None, :], axis=1)


def draw_essays(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True abilities, their estimates with known SEs, and true grades."""
    theta = rng.normal(0.0, 1.8, n)
    se = rng.uniform(0.3, 0.8, n)
    return theta + rng.normal(0.0, se), se, draw_grades(rng, theta)


def test_cut_points_and_slope_are_recovered(rng: np.random.Generator) -> None:
    """With many anchors (shrunk abilities) the cut-points and slope match the generating ones."""
    est, se, grades = draw_essays(rng, 600)
    post = shrink_abilities(est, se)
    model = fit_grade_model(post.theta, post.se, grades, 5)
    assert np.max(np.abs(model.cut_points - TRUE_CUTS)) < 0.4
    assert abs(model.slope / TRUE_SLOPE - 1.0) < 0.3


def test_ignoring_anchor_error_attenuates_the_slope(rng: np.random.Generator) -> None:
    """Treating noisy anchor abilities as exact flattens the slope; integrating the SE does not."""
    theta = rng.normal(0.0, 1.8, 600)
    se = np.full(600, 0.9)
    est = theta + rng.normal(0.0, se)
    grades = draw_grades(rng, theta)
    post = shrink_abilities(est, se)
    with_se = fit_grade_model(post.theta, post.se, grades, 5)
    without = fit_grade_model(est, np.zeros(600), grades, 5)
    assert without.slope < 0.75 * TRUE_SLOPE
    assert without.slope < 0.75 * with_se.slope
    assert abs(with_se.slope / TRUE_SLOPE - 1.0) < 0.4


def calibration_gaps(probs: np.ndarray, grades: np.ndarray, min_count: int) -> list[float]:
    """|mean predicted - observed frequency| per probability decile with enough entries."""
    p = probs.ravel()
    hit = (grades[:, None] == np.arange(probs.shape[1])[None, :]).ravel().astype(float)
    bins = np.minimum((p * 10).astype(int), 9)
    return [
        abs(p[bins == b].mean() - hit[bins == b].mean())
        for b in range(10)
        if np.sum(bins == b) >= min_count
    ]


def test_true_model_with_shrunk_abilities_is_calibrated(rng: np.random.Generator) -> None:
    """With the generating cut-points, shrunk abilities give calibrated grade probabilities."""
    est, se, grades = draw_essays(rng, 40000)
    post = shrink_abilities(est, se)
    truth = GradeModel(TRUE_CUTS, TRUE_SLOPE, 5, tuple(range(5)), 0.0, 1.0, 1.0, 0, 0.0, 0)
    proj = project_grades(truth, post.theta, post.se)
    assert max(calibration_gaps(proj.probabilities, grades, 1000)) < 0.04
    raw = project_grades(truth, est, se)
    assert max(calibration_gaps(raw.probabilities, grades, 1000)) > 0.05  # why we shrink


def test_projected_probabilities_are_calibrated(rng: np.random.Generator) -> None:
    """A model fitted to anchors gives calibrated probabilities for new essays."""
    est, se, grades = draw_essays(rng, 8600)
    post = shrink_abilities(est, se)
    anchors, students = slice(0, 600), slice(600, None)
    model = fit_grade_model(post.theta[anchors], post.se[anchors], grades[anchors], 5)
    proj = project_grades(model, post.theta[students], post.se[students])
    assert max(calibration_gaps(proj.probabilities, grades[students], 500)) < 0.08
    exact = np.mean(proj.most_likely == grades[students])
    assert abs(proj.confidence.mean() - exact) < 0.05
    p_true = proj.probabilities[np.arange(8000), grades[students]]
    assert p_true.mean() > 0.4


def test_leave_one_out_accuracy_matches_the_projection_confidence(rng: np.random.Generator) -> None:
    """LOO exact accuracy on simulated anchors is close to the mean predicted confidence."""
    est, se, grades = draw_essays(rng, 60)
    post = shrink_abilities(est, se)
    result = leave_one_anchor_out(post.theta, post.se, grades, 5)
    assert result.n_evaluated == 60
    assert result.exact_accuracy is not None and result.mean_p_true is not None
    assert abs(result.exact_accuracy - float(np.mean(result.confidence))) < 0.2
    assert result.mean_p_true < float(np.mean(result.confidence))
    assert result.within_one_accuracy is not None and result.within_one_accuracy > 0.7


def test_end_to_end_from_simulated_comparisons(rng: np.random.Generator) -> None:
    """Anchors and students judged pairwise, fitted by BT, then graded: grades track the truth."""
    n_anchor, n_student = 16, 64
    n = n_anchor + n_student
    truth = rng.normal(0.0, 1.5, n)
    a = rng.integers(0, n, 20 * n)
    b = (a + rng.integers(1, n, a.size)) % n
    a_wins = rng.random(a.size) < 1.0 / (1.0 + np.exp(-(truth[a] - truth[b])))
    fit = fit_bradley_terry(PairwiseData.build(n, a, b, a_wins.astype(float)), alpha=0.1)
    grades = draw_grades(rng, truth)
    anchors = np.arange(n_anchor)
    model = fit_grade_model(fit.theta[anchors], fit.se[anchors], grades[anchors], 5)
    students = np.arange(n_anchor, n)
    proj = project_grades(model, fit.theta[students], fit.se[students])
    assert spearmanr(proj.expected, truth[students]).statistic > 0.85
    assert np.mean(np.abs(proj.most_likely - grades[students]) <= 1) > 0.75
    assert np.all(proj.confidence < 0.999)


def test_parameter_uncertainty_reduces_overconfidence_with_few_anchors() -> None:
    """With 12 anchors, averaging over the fit's uncertainty lowers log loss and overconfidence."""
    gap = {False: [], True: []}
    loss = {False: [], True: []}
    for seed in range(30):
        rng = np.random.default_rng(seed)
        est, se, grades = draw_essays(rng, 512)
        if np.unique(grades[:12]).size < 2:
            continue
        post = shrink_abilities(est, se)
        for carry in (False, True):
            model = fit_grade_model(
                post.theta[:12], post.se[:12], grades[:12], 5, parameter_uncertainty=carry
            )
            proj = project_grades(model, post.theta[12:], post.se[12:])
            truth = grades[12:]
            gap[carry].append(proj.confidence.mean() - np.mean(proj.most_likely == truth))
            loss[carry].append(-np.mean(np.log(proj.probabilities[np.arange(500), truth])))
    assert np.mean(gap[True]) < np.mean(gap[False]) - 0.02
    assert np.mean(loss[True]) < np.mean(loss[False])


def test_parameter_draws_are_valid_models_centred_on_the_mode(rng: np.random.Generator) -> None:
    """Every draw has ordered cut-points and a positive slope; their median sits near the mode."""
    est, se, grades = draw_essays(rng, 40)
    model = fit_grade_model(est, se, grades, 5)
    assert model.cut_point_draws.shape == (64, 4) and model.slope_draws.shape == (64,)
    assert np.all(np.diff(model.cut_point_draws, axis=1) > 0)
    assert np.all(model.slope_draws > 0)
    spread = model.cut_point_draws.std(axis=0)
    assert np.all(np.abs(np.median(model.cut_point_draws, axis=0) - model.cut_points) < spread)
    plug_in = fit_grade_model(est, se, grades, 5, parameter_uncertainty=False)
    assert plug_in.slope_draws.size == 0
    assert np.allclose(plug_in.cut_points, model.cut_points)
