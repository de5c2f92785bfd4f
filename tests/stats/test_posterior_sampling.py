"""Posterior-sampled reliability."""

from __future__ import annotations

import numpy as np
import pytest

from cjgrade.errors import InputError
from cjgrade.stats.bt import PairwiseData
from cjgrade.stats.posterior_sampling import expected_squared_correlation, sample_reliability


def _random_design(
    n: int, m: int, sd: float, rng: np.random.Generator
) -> tuple[PairwiseData, np.ndarray]:
    truth = rng.normal(0, sd, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    y = (rng.random(m) < 1 / (1 + np.exp(-(truth[a] - truth[b])))).astype(float)
    return PairwiseData.build(n, a, b, y), truth


def test_sampled_reliability_matches_truth(rng: np.random.Generator) -> None:
    """Averaged over data sets, the sampled reliability is within 0.05 of the squared
    correlation between the posterior means and the true abilities."""
    gaps = []
    for _ in range(4):
        data, truth = _random_design(50, 400, 1.5, rng)
        res = sample_reliability(data, rng, n_draws=200, n_warmup=100)
        assert 0.4 < res.acceptance <= 1.0
        gaps.append(res.reliability - np.corrcoef(res.theta, truth)[0, 1] ** 2)
    assert abs(float(np.mean(gaps))) < 0.05


def test_sampled_reliability_is_seeded() -> None:
    """The same generator seed gives the same result."""
    data, _ = _random_design(20, 120, 1.0, np.random.default_rng(1))
    one = sample_reliability(data, np.random.default_rng(5), n_draws=50, n_warmup=20)
    two = sample_reliability(data, np.random.default_rng(5), n_draws=50, n_warmup=20)
    assert one.reliability == two.reliability
    assert np.array_equal(one.theta, two.theta)


def test_sampled_reliability_rejects_bad_arguments(rng: np.random.Generator) -> None:
    """Too few draws or items are input errors."""
    data, _ = _random_design(10, 40, 1.0, rng)
    with pytest.raises(InputError):
        sample_reliability(data, rng, n_draws=1)
    with pytest.raises(InputError):
        sample_reliability(PairwiseData.build(1, [], []), rng)


def test_merged_pairs_keep_the_likelihood_and_gradient(rng):
    """Repeated and reversed pairs merged into weights give the per-comparison likelihood and
    gradient exactly (soft outcomes and weights included)."""
    from cjgrade.stats.posterior_sampling import _Target

    n, m = 7, 60
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    a = np.concatenate([a, b[:10]])  # some pairs again in the other orientation
    b = np.concatenate([b, a[:10]])
    y = rng.random(a.size)
    w = rng.uniform(0.5, 2.0, a.size)
    data = PairwiseData.build(n, a, b, y, weight=w)
    target = _Target(data)
    assert target.a.size < a.size
    theta = rng.normal(0, 1, n)
    d = theta[a] - theta[b]
    naive = np.sum(w * (y * -np.logaddexp(0, -d) + (1 - y) * -np.logaddexp(0, d)))
    assert target.log_likelihood(theta) == pytest.approx(naive, rel=1e-12)
    r = w * (y - 1 / (1 + np.exp(-d)))
    grad = np.bincount(a, r, n) - np.bincount(b, r, n) - theta / 2.0
    np.testing.assert_allclose(target.gradient(theta, 2.0), grad, rtol=1e-10, atol=1e-12)


def test_expected_squared_correlation_is_scale_invariant() -> None:
    """Draws that are stretched or shifted copies of the estimate correlate perfectly; an
    orthogonal draw not at all; a flat estimate or draw counts 0."""
    est = np.array([-1.0, 0.0, 1.0, 2.0])
    ortho = np.array([1.0, -1.0, -1.0, 1.0])  # centred and orthogonal to est - mean(est)
    draws = np.vstack([est, 3.0 * est + 7.0, ortho])
    assert expected_squared_correlation(est, draws[:2]) == pytest.approx(1.0)
    assert expected_squared_correlation(est, draws) == pytest.approx(2.0 / 3.0)
    assert expected_squared_correlation(np.zeros(4), draws) == 0.0
    assert expected_squared_correlation(est, np.zeros((2, 4))) == 0.0


def test_sampled_reliability_of_given_estimate(rng: np.random.Generator) -> None:
    """The reliability of a stretched estimate equals that of the estimate; a scrambled
    estimate has a much lower one; an estimate of the wrong length is refused."""
    data, _ = _random_design(40, 400, 1.5, rng)
    base = sample_reliability(data, np.random.default_rng(3), n_draws=100, n_warmup=50)
    stretched = sample_reliability(data, np.random.default_rng(3), n_draws=100, n_warmup=50,
                                   estimate=2.5 * base.theta + 1.0)
    assert stretched.reliability == pytest.approx(base.reliability, abs=1e-12)
    scrambled = sample_reliability(data, np.random.default_rng(3), n_draws=100, n_warmup=50,
                                   estimate=rng.permutation(base.theta))
    assert scrambled.reliability < base.reliability - 0.3
    assert 0.0 <= base.variance_ratio <= 1.0
    with pytest.raises(InputError, match="40 finite"):
        sample_reliability(data, rng, n_draws=10, estimate=np.zeros(39))
