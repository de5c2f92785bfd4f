"""Stopping rules and the empirical-Bayes reliability used for stopping."""

from __future__ import annotations

import numpy as np
import pytest

from cjgrade.errors import InputError
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from cjgrade.stats.empirical_bayes import fit_empirical_bayes, posterior_reliability
from cjgrade.stats.stopping import RoundStatus, StoppingRules, decide_stopping


def _status(**kw: object) -> RoundStatus:
    base: dict[str, object] = {
        "n_comparisons": 50,
        "theta": np.array([-1.0, 0.0, 1.0]),
        "se": np.array([0.5, 0.4, 0.6]),
    }
    base.update(kw)
    return RoundStatus(**base)  # type: ignore[arg-type]


def test_budget_fires_first() -> None:
    """The budget rule stops at the budget, even when other rules would fire too."""
    rules = StoppingRules(budget=50, target_reliability=0.5)
    d = decide_stopping(rules, _status(reliability=0.9))
    assert (d.stop, d.rule) == (True, "budget")
    assert "50" in d.reason
    assert not decide_stopping(StoppingRules(budget=51), _status()).stop


def test_target_reliability() -> None:
    """Target reliability fires at or above the target and ignores an undefined value."""
    rules = StoppingRules(target_reliability=0.8, stability_threshold=None)
    assert decide_stopping(rules, _status(reliability=0.8)).rule == "target_reliability"
    assert decide_stopping(rules, _status(reliability=0.79)).rule == "continue"
    assert not decide_stopping(rules, _status(reliability=float("nan"))).stop


def test_target_max_se_excludes_anchors() -> None:
    """The SE rule looks at students only: a large anchor SE does not block it."""
    rules = StoppingRules(target_max_se=0.5, stability_threshold=None)
    assert not decide_stopping(rules, _status()).stop
    anchors = np.array([False, False, True])
    d = decide_stopping(rules, _status(is_anchor=anchors))
    assert (d.stop, d.rule) == (True, "target_max_se")


def test_stability_default_threshold() -> None:
    """Stability stops when no estimate moved more than 0.025 (the default) since last round."""
    rules = StoppingRules()
    theta = np.array([-1.0, 0.0, 1.0])
    moved = decide_stopping(rules, _status(previous_theta=theta + np.array([0.0, 0.03, 0.0])))
    assert not moved.stop and moved.max_change == pytest.approx(0.03)
    still = decide_stopping(rules, _status(previous_theta=theta + 0.02))
    assert (still.stop, still.rule) == (True, "stability")
    assert not decide_stopping(rules, _status()).stop  # no previous round yet


def test_stability_waits_for_min_comparisons() -> None:
    """Stability cannot fire before ``min_comparisons`` comparisons."""
    theta = np.array([-1.0, 0.0, 1.0])
    rules = StoppingRules(min_comparisons=100)
    assert not decide_stopping(rules, _status(previous_theta=theta)).stop


def test_continue_reason_names_figures() -> None:
    """A continue decision says where each active rule stands."""
    rules = StoppingRules(budget=100, target_reliability=0.8, target_max_se=0.1)
    d = decide_stopping(rules, _status(reliability=0.5))
    assert d.rule == "continue"
    assert "50 comparisons of 100" in d.reason and "0.500" in d.reason


@pytest.mark.parametrize(
    "kwargs",
    [
        {"budget": 0},
        {"target_reliability": 1.0},
        {"target_max_se": -0.1},
        {"stability_threshold": 0.0},
        {"min_comparisons": -1},
    ],
)
def test_invalid_rules_raise(kwargs: dict[str, object]) -> None:
    """Invalid rule settings are input errors."""
    with pytest.raises(InputError):
        StoppingRules(**kwargs)  # type: ignore[arg-type]


def test_invalid_status_raises() -> None:
    """Mismatched shapes in the round status are input errors."""
    with pytest.raises(InputError, match="shape"):
        _status(se=np.ones(2))


def test_posterior_reliability_bounds() -> None:
    """Posterior reliability is in [0, 1], near 1 for tiny errors and 0 for no spread."""
    theta = np.linspace(-2, 2, 20)
    assert posterior_reliability(theta, np.full(20, 0.01), 2.0) > 0.99
    assert posterior_reliability(np.zeros(20), np.ones(20), 1.0) == 0.0
    with pytest.raises(InputError):
        posterior_reliability(theta, np.ones(20), 0.0)


def test_empirical_bayes_recovers_spread(rng: np.random.Generator) -> None:
    """With many comparisons the estimated prior variance is near the true ability variance."""
    n, m = 40, 4000
    truth = rng.normal(0, 1.0, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    y = (rng.random(m) < 1 / (1 + np.exp(-(truth[a] - truth[b])))).astype(float)
    eb = fit_empirical_bayes(PairwiseData.build(n, a, b, y))
    assert eb.converged
    assert eb.prior_variance == pytest.approx(np.var(truth), rel=0.3)
    assert abs(eb.reliability - np.corrcoef(eb.fit.theta, truth)[0, 1] ** 2) < 0.05


def test_empirical_bayes_reused_errors_keep_the_fixed_point(rng: np.random.Generator) -> None:
    """Reusing standard errors between updates (``initial_se``, e.g. the previous round's)
    reaches the same prior variance as recomputing them every time, and the fit it returns
    carries the exact standard errors at that variance."""
    n, m = 30, 600
    truth = rng.normal(0, 1.5, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    y = (rng.random(m) < 1 / (1 + np.exp(-(truth[a] - truth[b])))).astype(float)
    data = PairwiseData.build(n, a, b, y)
    fresh = fit_empirical_bayes(data, tol=1e-8)
    stale = fit_empirical_bayes(data, initial_se=np.full(n, 5.0), tol=1e-8)
    assert fresh.converged and stale.converged
    assert stale.prior_variance == pytest.approx(fresh.prior_variance, rel=1e-6)
    exact = fit_bradley_terry(data, alpha=1.0 / stale.prior_variance)
    np.testing.assert_allclose(stale.fit.se, exact.se, rtol=1e-6)
    np.testing.assert_allclose(stale.fit.theta, exact.theta, atol=1e-6)
    with pytest.raises(InputError, match="initial_se"):
        fit_empirical_bayes(data, initial_se=np.ones(n - 1))
    with pytest.raises(InputError, match="initial_se"):
        fit_empirical_bayes(data, initial_se=np.full(n, np.nan))
