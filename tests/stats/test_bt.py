"""Bradley-Terry fitting: golden cases, derivative checks, recovery, identifiability errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit

from cjgrade.errors import ConvergenceError, InputError
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from cjgrade.stats.btsolver import DENSE_LIMIT, Information, aggregate_pairs


def log_likelihood(data: PairwiseData, theta: np.ndarray, gamma: float = 0.0) -> float:
    """Independent reference: the weighted Bernoulli log-likelihood, written out directly."""
    eta = theta[data.a] - theta[data.b] + gamma * data.position_known
    p = expit(eta)
    return float(np.sum(data.weight * (data.y * np.log(p) + (1 - data.y) * np.log(1 - p))))


def simulate(rng: np.random.Generator, n: int, m: int, sd: float = 1.0, gamma: float = 0.0):
    """Random pairs with outcomes drawn from the BT model (first-named item in slot A)."""
    theta = rng.normal(0.0, sd, n)
    theta -= theta.mean()
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    y = (rng.random(m) < expit(theta[a] - theta[b] + gamma)).astype(float)
    return theta, PairwiseData.build(n, a, b, y, position_known=np.ones(m, dtype=bool))


def test_two_items_golden() -> None:
    """3 wins to 1: theta difference log(3), split around zero; SE from 4 p (1-p) exactly."""
    data = PairwiseData.build(2, [0, 0, 0, 1], [1, 1, 1, 0])
    fit = fit_bradley_terry(data)
    assert fit.theta == pytest.approx([np.log(3) / 2, -np.log(3) / 2], abs=1e-10)
    # Information of the difference d: 4 * 0.75 * 0.25; theta_a = d / 2.
    assert fit.se == pytest.approx([np.sqrt(1 / 3), np.sqrt(1 / 3)], abs=1e-10)
    assert fit.log_likelihood == pytest.approx(3 * np.log(0.75) + np.log(0.25), abs=1e-10)


def test_cycle_gives_equal_abilities() -> None:
    """A beats B, B beats C, C beats A: every ability is zero."""
    data = PairwiseData.build(3, [0, 1, 2], [1, 2, 0])
    fit = fit_bradley_terry(data)
    assert fit.theta == pytest.approx([0, 0, 0], abs=1e-12)
    assert np.all(fit.se > 0)


def test_ties_count_half_a_win() -> None:
    """Two ties and a win for A: A scores 2 of 3, so the difference is log 2."""
    data = PairwiseData.build(2, [0, 0, 0], [1, 1, 1], [0.5, 0.5, 1.0])
    fit = fit_bradley_terry(data)
    assert fit.theta[0] - fit.theta[1] == pytest.approx(np.log(2), abs=1e-10)


def test_soft_outcome_golden() -> None:
    """One soft outcome of 0.8 is matched exactly: the difference is logit(0.8) = log 4."""
    data = PairwiseData.build(2, [0], [1], [0.8])
    fit = fit_bradley_terry(data)
    assert fit.theta[0] - fit.theta[1] == pytest.approx(np.log(4), abs=1e-10)


def test_prior_matches_one_dimensional_solve() -> None:
    """With a prior, one win gives t solving 1 - sigmoid(2t) = alpha t (theta = +-t)."""
    alpha = 0.5
    t = brentq(lambda t: 1 - expit(2 * t) - alpha * t, 0, 10)
    fit = fit_bradley_terry(PairwiseData.build(2, [0], [1]), alpha=alpha)
    assert fit.theta == pytest.approx([t, -t], abs=1e-10)
    assert fit.extreme == (0, 1)


def test_position_effect_golden() -> None:
    """Saturated design: slot-A wins 3/4 for (a, b) and 2/4 for (b, a) give d = g = log(3)/2."""
    a = [0] * 4 + [1] * 4
    b = [1] * 4 + [0] * 4
    y = [1, 1, 1, 0, 1, 1, 0, 0]  # a wins 3/4 in slot A; b wins 2/4 in slot A
    data = PairwiseData.build(2, a, b, y, position_known=[True] * 8)
    fit = fit_bradley_terry(data, position_effect=True)
    assert fit.position_effect == pytest.approx(np.log(3) / 2, abs=1e-10)
    assert fit.theta[0] - fit.theta[1] == pytest.approx(np.log(3) / 2, abs=1e-10)
    assert fit.position_se is not None and fit.position_se > 0


def test_eps_adjustment_golden() -> None:
    """eps=0.3 turns 3 wins of 3 into 2.7 of 3: P(a beats b) = 0.9, difference log 9."""
    data = PairwiseData.build(2, [0, 0, 0], [1, 1, 1])
    fit = fit_bradley_terry(data, eps=0.3)
    assert fit.theta[0] - fit.theta[1] == pytest.approx(np.log(9), abs=1e-9)
    assert fit.extreme == (0, 1)


def test_eps_with_soft_outcome_golden() -> None:
    """eps=0.3 on one soft outcome 0.8: scores 0.62 and 0.38 of 1, difference logit(0.62)."""
    fit = fit_bradley_terry(PairwiseData.build(2, [0], [1], [0.8]), eps=0.3)
    assert fit.theta[0] - fit.theta[1] == pytest.approx(np.log(0.62 / 0.38), abs=1e-9)


def test_gradient_is_zero_at_estimate_by_finite_differences(rng: np.random.Generator) -> None:
    """The finite-difference gradient of an independent log-likelihood vanishes at the MLE."""
    _, data = simulate(rng, 12, 400)
    fit = fit_bradley_terry(data)
    h = 1e-6
    for i in range(data.n_items):
        e = np.zeros(data.n_items)
        e[i] = h
        g = (log_likelihood(data, fit.theta + e) - log_likelihood(data, fit.theta - e)) / (2 * h)
        assert abs(g) < 1e-4


def test_information_matches_finite_difference_hessian(rng: np.random.Generator) -> None:
    """The analytic information (theta and position block) is minus the FD Hessian."""
    n = 6
    _, data = simulate(rng, n, 200, gamma=0.4)
    theta = rng.normal(size=n)
    gamma = 0.3
    agg = aggregate_pairs(
        n, data.a, data.b, data.y, data.weight, data.position_known, keep_orientation=True
    )
    p = expit(theta[agg.a] - theta[agg.b] + gamma * agg.pk)
    info = Information(agg, agg.w * p * (1 - p), 0.0, use_gamma=True).dense()
    info[:n, :n] -= 1.0 / n  # remove the constant-direction regulariser
    params = np.append(theta, gamma)

    def f(x: np.ndarray) -> float:
        return log_likelihood(data, x[:n], x[n])

    h = 1e-4
    k = n + 1
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = (
                f(params + ei + ej)
                - f(params + ei - ej)
                - f(params - ei + ej)
                + f(params - ei - ej)
            ) / (4 * h * h)
    assert info == pytest.approx(-hess, abs=1e-4)


def test_fisher_se_equals_constrained_pseudo_inverse(rng: np.random.Generator) -> None:
    """Sum-to-zero SEs are sqrt(diag(pinv(information))) computed independently with numpy."""
    n = 10
    _, data = simulate(rng, n, 300)
    fit = fit_bradley_terry(data)
    p = expit(fit.theta[data.a] - fit.theta[data.b])
    v = p * (1 - p)
    lap = np.zeros((n, n))
    np.add.at(lap, (data.a, data.a), v)
    np.add.at(lap, (data.b, data.b), v)
    np.add.at(lap, (data.a, data.b), -v)
    np.add.at(lap, (data.b, data.a), -v)
    assert fit.se == pytest.approx(np.sqrt(np.diag(np.linalg.pinv(lap))), rel=1e-8)
    diag = fit_bradley_terry(data, se_method="diagonal")
    assert diag.se == pytest.approx(1 / np.sqrt(np.diag(lap)), rel=1e-8)
    assert np.all(np.isnan(fit_bradley_terry(data, se_method="none").se))


def test_recovery_and_se_coverage(rng: np.random.Generator) -> None:
    """Abilities are recovered and about 95% of true values lie within 1.96 SE."""
    truth, data = simulate(rng, 60, 6000, sd=1.0)
    fit = fit_bradley_terry(data)
    assert np.corrcoef(truth, fit.theta)[0, 1] > 0.97
    z = (fit.theta - truth) / fit.se
    assert 0.85 <= np.mean(np.abs(z) < 1.96) <= 1.0
    assert 0.7 < np.std(z) < 1.3


def test_position_effect_recovery(rng: np.random.Generator) -> None:
    """A simulated first-position bias of 0.5 logits is found within three SEs."""
    _, data = simulate(rng, 30, 4000, gamma=0.5)
    fit = fit_bradley_terry(data, position_effect=True)
    assert fit.position_effect is not None and fit.position_se is not None
    assert abs(fit.position_effect - 0.5) < 3 * fit.position_se


def test_conjugate_gradient_path_solves_score_equations(rng: np.random.Generator) -> None:
    """Above the dense limit (sparse CG path) the estimate still zeroes the exact gradient."""
    n = DENSE_LIMIT + 100
    _, data = simulate(rng, n, 30 * n, sd=0.7)
    fit = fit_bradley_terry(data, position_effect=True, se_method="diagonal")
    gamma = fit.position_effect or 0.0
    r = data.y - expit(fit.theta[data.a] - fit.theta[data.b] + gamma)
    grad = np.bincount(data.a, r, n) - np.bincount(data.b, r, n)
    assert np.max(np.abs(grad)) < 1e-6
    assert abs(float(r.sum())) < 1e-6
    assert fit.theta.sum() == pytest.approx(0.0, abs=1e-9)


def test_duplicates_equal_weights(rng: np.random.Generator) -> None:
    """Repeating a comparison is the same as giving it weight 2 (aggregation is exact)."""
    _, data = simulate(rng, 8, 100)
    doubled = PairwiseData.build(8, np.tile(data.a, 2), np.tile(data.b, 2), np.tile(data.y, 2))
    weighted = PairwiseData.build(8, data.a, data.b, data.y, weight=np.full(100, 2.0))
    f1, f2 = fit_bradley_terry(doubled), fit_bradley_terry(weighted)
    assert f1.theta == pytest.approx(f2.theta, abs=1e-10)
    assert f1.se == pytest.approx(f2.se, abs=1e-10)


def test_warm_start_converges_immediately(rng: np.random.Generator) -> None:
    """Starting from the solution takes at most two Newton steps and gives the same answer."""
    _, data = simulate(rng, 20, 500)
    cold = fit_bradley_terry(data)
    warm = fit_bradley_terry(data, initial_params=cold.theta + 3.0)
    assert warm.n_iter <= 2
    assert warm.theta == pytest.approx(cold.theta, abs=1e-9)


def test_disconnected_graph_error_names_components() -> None:
    """Two separate groups without a prior: ConvergenceError listing both components."""
    data = PairwiseData.build(4, [0, 1, 2, 3], [1, 0, 3, 2])
    with pytest.raises(ConvergenceError, match=r"2 disconnected components.*\[0, 1\], \[2, 3\]"):
        fit_bradley_terry(data)
    fit = fit_bradley_terry(data, alpha=1.0)
    assert fit.components == 2
    assert np.all(np.isfinite(fit.se))


def test_disconnected_even_with_eps_is_an_error() -> None:
    """The score adjustment does not identify separate components: still an error."""
    data = PairwiseData.build(4, [0, 1, 2, 3], [1, 0, 3, 2])
    with pytest.raises(ConvergenceError, match="disconnected"):
        fit_bradley_terry(data, eps=0.3)


def test_extreme_and_isolated_items() -> None:
    """All-win and unused items raise without a prior, and are fitted and flagged with one."""
    data = PairwiseData.build(4, [0, 0, 1, 2], [1, 2, 2, 1])
    with pytest.raises(ConvergenceError, match=r"no comparisons .*\[3\]"):
        fit_bradley_terry(data)
    connected = PairwiseData.build(3, [0, 0, 1, 2], [1, 2, 2, 1])
    with pytest.raises(ConvergenceError, match=r"won or lost every comparison .*\[0\]"):
        fit_bradley_terry(connected)
    with pytest.raises(ConvergenceError, match=r"\['x'\]"):
        fit_bradley_terry(connected, item_labels=["x", "y", "z"])
    fit = fit_bradley_terry(data, alpha=0.5)
    assert fit.isolated == (3,)
    assert fit.extreme == (0,)
    assert fit.theta[3] == pytest.approx(0.0, abs=1e-12)
    assert fit.se[3] == pytest.approx(1 / np.sqrt(0.5))


def test_group_that_won_every_cross_comparison_is_an_error() -> None:
    """{0, 1} won all comparisons with the rest (no single item is extreme): no finite MLE."""
    data = PairwiseData.build(
        6, [0, 1, 2, 3, 4, 5, 5], [1, 2, 3, 4, 5, 0, 2], [0.3, 1, 0.9, 0.9, 1, 0, 0.5]
    )
    with pytest.raises(ConvergenceError, match=r"2 groups .*\[0, 1\]"):
        fit_bradley_terry(data)
    assert np.all(np.isfinite(fit_bradley_terry(data, alpha=0.2).theta))


def test_invalid_options() -> None:
    """Negative alpha, eps outside [0, 0.5), unknown SE method, bad warm start: InputError."""
    data = PairwiseData.build(2, [0, 1], [1, 0])
    with pytest.raises(InputError):
        fit_bradley_terry(data, alpha=-1)
    with pytest.raises(InputError):
        fit_bradley_terry(data, eps=0.5)
    with pytest.raises(InputError):
        fit_bradley_terry(data, se_method="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        fit_bradley_terry(data, initial_params=np.zeros(3))
    with pytest.raises(InputError, match="diagonal"):
        fit_bradley_terry(data, max_dense_se=1)


def test_build_validation() -> None:
    """PairwiseData.build rejects self-comparisons, bad indices and outcomes outside [0, 1]."""
    with pytest.raises(InputError, match="itself"):
        PairwiseData.build(2, [0], [0])
    with pytest.raises(InputError, match="out of range"):
        PairwiseData.build(2, [0], [2])
    with pytest.raises(InputError, match="probabilities"):
        PairwiseData.build(2, [0], [1], [1.5])
    with pytest.raises(InputError, match="length"):
        PairwiseData.build(2, [0, 1], [1])


def test_line_search_brings_newton_home_from_a_far_start() -> None:
    """From abilities of +-40 (every predicted probability saturated) the full Newton step
    overshoots without end; the damped step (halved while a long step lowers the objective)
    reaches the same optimum as the default start."""
    from scipy.special import expit

    rng = np.random.default_rng(0)
    n = 30
    truth = rng.normal(0.0, 2.0, n)
    a = rng.integers(0, n, 400)
    b = (a + rng.integers(1, n, 400)) % n
    y = (rng.random(400) < expit(truth[a] - truth[b])).astype(float)
    data = PairwiseData.build(n, a, b, y)
    reference = fit_bradley_terry(data, alpha=0.05)
    far = fit_bradley_terry(data, alpha=0.05, max_iter=100,
                            initial_params=np.where(np.arange(n) % 2 == 0, 40.0, -40.0))
    np.testing.assert_allclose(far.theta, reference.theta, atol=1e-8)
