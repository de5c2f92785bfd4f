"""Reliability statistics: SSR, separation index, split-half."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from cjgrade.errors import InputError
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from cjgrade.stats.reliability import (
    scale_separation_reliability,
    separation_index,
    split_half_reliability,
)


def test_ssr_golden() -> None:
    """theta (-1, 0, 1) has variance 1; SE 0.5 everywhere gives SSR 0.75."""
    theta = np.array([-1.0, 0.0, 1.0])
    se = np.full(3, 0.5)
    assert scale_separation_reliability(theta, se) == pytest.approx(0.75)


def test_separation_golden_true_and_observed() -> None:
    """Same data: true G = sqrt(0.75/0.25) = sqrt(3); sirt's observed sepG = sqrt(1/0.25) = 2."""
    theta = np.array([-1.0, 0.0, 1.0])
    se = np.full(3, 0.5)
    assert separation_index(theta, se) == pytest.approx(np.sqrt(3))
    assert separation_index(theta, se, kind="observed") == pytest.approx(2.0)
    ssr = scale_separation_reliability(theta, se)
    assert separation_index(theta, se) ** 2 == pytest.approx(ssr / (1 - ssr))


def test_ssr_undefined_and_negative_cases() -> None:
    """One item or no spread gives NaN; errors larger than the spread give a negative SSR."""
    assert np.isnan(scale_separation_reliability(np.array([1.0]), np.array([0.1])))
    assert np.isnan(scale_separation_reliability(np.zeros(3), np.ones(3)))
    assert scale_separation_reliability(np.array([-1.0, 1.0]), np.full(2, 3.0)) < 0
    assert separation_index(np.array([-1.0, 1.0]), np.full(2, 3.0)) == 0.0
    with pytest.raises(InputError):
        scale_separation_reliability(np.zeros(3), np.ones(2))


def _judged(rng: np.random.Generator, n: int, m: int, judges: int, sd: float):
    theta = rng.normal(0, sd, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    y = (rng.random(m) < expit(theta[a] - theta[b])).astype(float)
    return theta, PairwiseData.build(n, a, b, y, judge=rng.integers(0, judges, m))


def test_split_half_tracks_ssr_on_simulated_data(rng: np.random.Generator) -> None:
    """On model data split-half reliability (by judge or decision) is close to SSR."""
    _, data = _judged(rng, 40, 1600, 8, 1.5)
    fit = fit_bradley_terry(data)
    ssr = scale_separation_reliability(fit.theta, fit.se)
    for by in ("judge", "decision"):
        sh = split_half_reliability(data, rng, by=by, n_splits=10)  # type: ignore[arg-type]
        assert sh.values.shape == (10,)
        assert abs(sh.reliability - ssr) < 0.08
        assert sh.values == pytest.approx(2 * sh.half_correlations / (1 + sh.half_correlations))


def test_split_half_is_low_for_noise(rng: np.random.Generator) -> None:
    """Coin-flip decisions carry no signal: split-half reliability is near zero or below."""
    n, m = 30, 900
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    data = PairwiseData.build(n, a, b, (rng.random(m) < 0.5).astype(float))
    assert split_half_reliability(data, rng, by="decision", n_splits=10).reliability < 0.4


def test_split_half_is_reproducible_with_a_seeded_generator() -> None:
    """The same seed gives the same splits and the same answer."""
    _, data = _judged(np.random.default_rng(3), 20, 400, 4, 1.0)
    r1 = split_half_reliability(data, np.random.default_rng(9), n_splits=5)
    r2 = split_half_reliability(data, np.random.default_rng(9), n_splits=5)
    assert r1.values == pytest.approx(r2.values)


def test_split_half_input_errors(rng: np.random.Generator) -> None:
    """One judge cannot be split by judge; an unknown split kind is refused."""
    _, data = _judged(rng, 10, 100, 1, 1.0)
    with pytest.raises(InputError, match="two judges"):
        split_half_reliability(data, rng, by="judge")
    with pytest.raises(InputError, match="unknown split"):
        split_half_reliability(data, rng, by="essay")  # type: ignore[arg-type]
