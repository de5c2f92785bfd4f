"""Soft outcomes (a judge's stated probability) modelled on their logit with estimated noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from cjgrade.errors import ConvergenceError, InputError
from cjgrade.stats.bt import PairwiseData, _objective, fit_bradley_terry
from cjgrade.stats.bt_soft import group_terms
from cjgrade.stats.btsolver import aggregate_pairs
from cjgrade.stats.empirical_bayes import fit_empirical_bayes
from cjgrade.stats.fitstats import compute_fit_statistics
from cjgrade.stats.pairing import PairingState, select_pairs
from cjgrade.stats.posterior_sampling import sample_reliability
from cjgrade.stats.soft_outcomes import SOFT_LOGIT_LIMIT, soft_logit


def _soft_data(
    n: int, m: int, sd: float, noise: float, seed: int, *, gamma: float = 0.0
) -> tuple[np.ndarray, PairwiseData]:
    """Abilities ~ N(0, sd^2); ``m`` comparisons with p_a = sigmoid(d + gamma + N(0, noise^2))."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, sd, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    z = theta[a] - theta[b] + gamma + rng.normal(0.0, noise, m)
    data = PairwiseData.build(
        n, a, b, expit(z), position_known=np.ones(m, dtype=bool), soft=np.ones(m, dtype=bool)
    )
    return theta, data


def _truth_reliability(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(np.corrcoef(estimate, truth)[0, 1] ** 2)


def test_soft_logit_is_clipped() -> None:
    z = soft_logit(np.array([0.0, 0.5, 0.9, 1.0]))
    assert z[0] == pytest.approx(-SOFT_LOGIT_LIMIT) and z[3] == pytest.approx(SOFT_LOGIT_LIMIT)
    assert z[1] == 0.0 and z[2] == pytest.approx(np.log(9.0))


@pytest.mark.parametrize("use_gamma", [False, True])
def test_gradient_and_information_match_finite_differences(use_gamma: bool) -> None:
    """The score residuals and informations of mixed soft/hard groups are the first and
    (negative) second derivatives of the log-likelihood in each group's linear predictor."""
    rng = np.random.default_rng(3)
    n, m = 6, 40
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    soft = rng.random(m) < 0.6
    y = np.where(soft, rng.uniform(0.05, 0.95, m), rng.integers(0, 2, m).astype(float))
    y[:3] = 0.5  # ties among the hard ones (or neutral soft ones)
    agg = aggregate_pairs(n, a, b, y, np.ones(m), np.ones(m, dtype=bool),
                          keep_orientation=use_gamma, soft=soft)
    theta = rng.normal(0.0, 1.0, n)
    gamma, s2 = (0.3 if use_gamma else 0.0), 0.7
    resid, v = group_terms(agg, theta, gamma, s2)
    zero = np.zeros(n)

    def objective(t: np.ndarray, g: float) -> float:
        return _objective(agg, t, g, zero, 0.0, s2)

    h = 1e-5
    grad = np.bincount(agg.a, resid, n) - np.bincount(agg.b, resid, n)
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        numeric = (objective(theta + e, gamma) - objective(theta - e, gamma)) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-6, abs=1e-6)
        second = (objective(theta + e, gamma) - 2 * objective(theta, gamma)
                  + objective(theta - e, gamma)) / h**2
        diag = np.bincount(agg.a, v, n)[i] + np.bincount(agg.b, v, n)[i]
        assert -second == pytest.approx(diag, rel=1e-4, abs=1e-4)
    if use_gamma:
        numeric = (objective(theta, gamma + h) - objective(theta, gamma - h)) / (2 * h)
        assert float(resid @ agg.pk) == pytest.approx(numeric, rel=1e-6, abs=1e-6)


def test_recovers_abilities_noise_and_prior_variance() -> None:
    """Known abilities (SD 1.5), belief noise 0.8: the noise variance, the prior variance and
    the abilities are recovered, and the 95% intervals cover about 95% of the truth."""
    covered, noise, tau2 = [], [], []
    for seed in range(12):
        truth, data = _soft_data(60, 600, 1.5, 0.8, seed)
        fit = fit_bradley_terry(data)
        centred = truth - truth.mean()
        covered.append(np.mean(np.abs(fit.theta - centred) <= 1.96 * fit.se))
        noise.append(fit.soft_variance)
        eb = fit_empirical_bayes(data)
        tau2.append(eb.prior_variance / np.var(truth))
        assert eb.fit.soft_variance == pytest.approx(fit.soft_variance, rel=0.05)
    assert np.mean(noise) == pytest.approx(0.64, rel=0.05)
    assert np.mean(tau2) == pytest.approx(1.0, abs=0.1)
    assert 0.92 <= np.mean(covered) <= 0.98


def test_issue_case_reliability_matches_truth() -> None:
    """The issue's reproduction: 53 items, ability variance 0.79, 424 random comparisons with
    p_a = sigmoid(theta_a - theta_b) exactly. The Bernoulli reading gave tau^2 0.20-0.25 and a
    reliability of 0.42-0.48 against a truth of 0.93-0.96."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        theta = rng.normal(0.0, np.sqrt(0.79), 53)
        a = rng.integers(0, 53, 424)
        b = (a + rng.integers(1, 53, 424)) % 53
        data = PairwiseData.build(53, a, b, expit(theta[a] - theta[b]),
                                  soft=np.ones(424, dtype=bool))
        eb = fit_empirical_bayes(data)
        truth = _truth_reliability(eb.fit.theta, theta)
        assert truth > 0.99
        assert eb.reliability == pytest.approx(truth, abs=0.02)
        assert eb.prior_variance == pytest.approx(np.var(theta), rel=0.2)


def test_adaptive_close_contests_do_not_collapse_the_prior() -> None:
    """Adaptive pairing on p(1-p) (pairs close in the current estimates, p_a near 0.5) with
    soft outcomes, refitted each round with three warm-started evidence updates as the engine
    does: the prior variance stays near the truth instead of falling to its floor (where the
    Bernoulli reading of soft outcomes put it), and the sampled reliability stays near the
    truth-based one."""
    n, rounds = 40, 12
    gaps, ratios, near_half = [], [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        truth = rng.normal(0.0, 1.0, n)
        state = PairingState.from_history(n)
        a_all, b_all, y_all = [], [], []
        tau2, theta, s2 = 1.0, np.zeros(n), None
        for number in range(1, rounds + 1):
            pairs = select_pairs("adaptive", state, rng)
            z = truth[pairs[:, 0]] - truth[pairs[:, 1]] + rng.normal(0.0, 1.0, len(pairs))
            a_all += list(pairs[:, 0])
            b_all += list(pairs[:, 1])
            y_all += list(expit(z))
            data = PairwiseData.build(n, a_all, b_all, y_all, soft=[True] * len(a_all))
            eb = fit_empirical_bayes(data, initial_variance=max(tau2, 0.05),
                                     initial_soft_variance=s2, initial_params=theta,
                                     max_iter=3, tol=1e-3)
            tau2, theta, s2 = eb.prior_variance, eb.fit.theta, eb.fit.soft_variance
            state = state.with_pairs(pairs).with_estimates(theta, eb.fit.se)
            if number >= 5:
                near_half.append(np.mean(np.abs(expit(z) - 0.5) < 0.3))
                ratios.append(tau2 / np.var(truth))
                sampled = sample_reliability(data, rng, initial=eb, estimate=theta,
                                             n_draws=150, n_warmup=75)
                gaps.append(sampled.reliability - _truth_reliability(theta, truth))
    assert np.mean(near_half) > 0.6
    assert min(ratios) > 0.5
    assert abs(np.mean(gaps)) < 0.05


def test_warm_start_from_the_floor_recovers() -> None:
    """A fit warm-started at the variance floor (weak first rounds) climbs back within the
    few evidence updates a round fit runs (MacKay's update, not EM's creep)."""
    truth, data = _soft_data(60, 480, 1.5, 1.0, 11)
    eb = fit_empirical_bayes(data, initial_variance=1e-3, initial_params=np.zeros(60),
                             max_iter=3, tol=1e-3)
    assert eb.prior_variance > 0.3 * np.var(truth)
    eb = fit_empirical_bayes(data, initial_variance=1e-3, initial_params=np.zeros(60),
                             max_iter=6, tol=1e-3)
    assert eb.prior_variance == pytest.approx(fit_empirical_bayes(data).prior_variance, rel=0.1)


def test_hard_outcomes_recover_from_the_floor() -> None:
    """The same for Bernoulli outcomes: from the floor (1e-3) tau^2 grows about sixfold an
    update, where the EM update it replaced crept up by tau^4 a step."""
    rng = np.random.default_rng(5)
    theta = rng.normal(0.0, 1.5, 60)
    a = rng.integers(0, 60, 900)
    b = (a + rng.integers(1, 60, 900)) % 60
    y = (rng.random(900) < expit(theta[a] - theta[b])).astype(float)
    data = PairwiseData.build(60, a, b, y)
    eb = fit_empirical_bayes(data, initial_variance=1e-3, max_iter=3, tol=1e-3)
    assert eb.prior_variance > 0.1
    eb = fit_empirical_bayes(data, initial_variance=1e-3, max_iter=8, tol=1e-3)
    assert eb.prior_variance == pytest.approx(fit_empirical_bayes(data).prior_variance, rel=0.1)


def test_position_offset_of_soft_outcomes_is_estimated() -> None:
    _, data = _soft_data(40, 800, 1.0, 0.7, 2, gamma=0.6)
    fit = fit_bradley_terry(data, position_effect=True)
    assert fit.position_effect == pytest.approx(0.6, abs=0.1)
    assert fit.soft_variance == pytest.approx(0.49, rel=0.15)
    without = fit_bradley_terry(data)
    assert without.soft_variance is not None and without.soft_variance > 0.7


def test_mixed_hard_and_soft_outcomes_share_one_scale() -> None:
    """Half the comparisons soft, half hard wins (with ties) from the same abilities: one
    fit orders the items, and an item judged only by soft outcomes is never 'extreme'."""
    rng = np.random.default_rng(9)
    n, m = 40, 1200
    theta = rng.normal(0.0, 1.0, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    soft = rng.random(m) < 0.5
    d = theta[a] - theta[b]
    hard_y = (rng.random(m) < expit(d)).astype(float)
    hard_y[rng.random(m) < 0.05] = 0.5
    y = np.where(soft, expit(d + rng.normal(0.0, 1.0, m)), hard_y)
    fit = fit_bradley_terry(PairwiseData.build(n, a, b, y, soft=soft))
    assert np.corrcoef(fit.theta, theta)[0, 1] > 0.95
    assert fit.soft_variance == pytest.approx(1.0, rel=0.2)
    assert fit.n_soft == int(soft.sum())
    # An item that "won" every soft comparison keeps a finite ML estimate.
    one = PairwiseData.build(3, [0, 0, 1], [1, 2, 2], [0.9, 0.8, 0.6], soft=[True] * 3)
    assert np.all(np.isfinite(fit_bradley_terry(one).theta))


def test_soft_variance_must_be_positive() -> None:
    _, data = _soft_data(10, 50, 1.0, 1.0, 0)
    with pytest.raises(InputError, match="soft_variance"):
        fit_bradley_terry(data, soft_variance=0.0)


def test_fit_statistics_of_soft_outcomes_have_expectation_one() -> None:
    """Scored on their logits against the fitted noise, a calibrated soft judge's infit and
    outfit are about 1; a judge with a few wild replies stands out."""
    _, data = _soft_data(40, 1600, 1.0, 0.8, 4)
    fit = fit_bradley_terry(data)
    stats = compute_fit_statistics(data, fit.theta, soft_variance=fit.soft_variance)
    assert np.median(stats.item_infit) == pytest.approx(1.0, abs=0.1)
    assert np.median(stats.item_outfit) == pytest.approx(1.0, abs=0.1)
    y = data.y.copy()
    wild = data.a == 0
    y[wild] = 1.0 - y[wild]  # item 0's comparisons contradict the rest
    flipped = PairwiseData.build(40, data.a, data.b, y, soft=data.soft)
    fit2 = fit_bradley_terry(flipped)
    stats2 = compute_fit_statistics(flipped, fit2.theta, soft_variance=fit2.soft_variance)
    assert stats2.item_outfit[0] > 2.0


@pytest.mark.parametrize("soft", [False, True])
def test_first_slot_winning_everything_does_not_break_a_regularised_fit(soft: bool) -> None:
    """Early in a batch the first-shown essay may have won every comparison: the position
    effect's likelihood then has no maximum. The fit with a prior on the abilities keeps a weak
    prior on it too, so it converges to a finite, positive effect instead of failing (it used
    to raise ConvergenceError and stop the batch)."""
    rng = np.random.default_rng(5)
    for n_items, n_comp in [(6, 1), (8, 3), (10, 5), (12, 9)]:
        a = rng.integers(0, n_items, n_comp)
        b = (a + 1 + rng.integers(0, n_items - 1, n_comp)) % n_items
        y = np.full(n_comp, 0.9 if soft else 1.0)
        data = PairwiseData.build(n_items, a, b, y, position_known=np.ones(n_comp, bool),
                                  soft=np.full(n_comp, soft))
        for start in (0.05, 1.0, 100.0):
            eb = fit_empirical_bayes(data, initial_variance=start, position_effect=True)
            gamma = eb.fit.position_effect
            assert gamma is not None and 0.0 < gamma < 10.0
            assert np.all(np.isfinite(eb.fit.theta)) and np.all(np.isfinite(eb.fit.se))
    # without a prior (maximum likelihood) the position effect keeps no prior: refused
    with pytest.raises(ConvergenceError):
        fit_bradley_terry(PairwiseData.build(3, [0, 1, 2], [1, 2, 0], position_known=[1, 1, 1]),
                          position_effect=True)
