"""Simulated judge statistics and the simulation harness."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from cjgrade.errors import InputError
from cjgrade.stats.simulation import Scenario, compare_strategies, simulate_run
from cjgrade.stats.simulation_judge import (
    SimulatedJudge,
    draw_abilities,
    simulate_outcomes,
    win_probability,
)


def test_position_bias_rate(rng: np.random.Generator) -> None:
    """With equal abilities the A slot wins at sigmoid(bias), diluted by the lapse rate."""
    judge = SimulatedJudge(np.zeros(2), position_bias=math.log(3.0), lapse=0.2)
    m = 40_000
    y = simulate_outcomes(judge, np.zeros(m, int), np.ones(m, int), rng)
    assert y.mean() == pytest.approx(0.1 + 0.8 * 0.75, abs=0.01)


def test_lapse_rate(rng: np.random.Generator) -> None:
    """With a huge ability gap the weaker essay wins only through lapses, at lapse / 2."""
    judge = SimulatedJudge(np.array([0.0, 40.0]), lapse=0.3)
    m = 40_000
    y = simulate_outcomes(judge, np.zeros(m, int), np.ones(m, int), rng)
    assert y.mean() == pytest.approx(0.15, abs=0.01)


def test_noise_scales_the_logit() -> None:
    """Noise divides the ability difference: noise 2 at a gap of 2 gives sigmoid(1)."""
    judge = SimulatedJudge(np.array([2.0, 0.0]), noise=2.0)
    assert win_probability(judge, [0], [1])[0] == pytest.approx(1 / (1 + math.exp(-1)))


def test_outcomes_follow_probabilities(rng: np.random.Generator) -> None:
    """Empirical win rates match the model probability across different gaps."""
    theta = np.array([0.0, 1.0, -1.0])
    judge = SimulatedJudge(theta, position_bias=0.3)
    m = 30_000
    for a, b in [(0, 1), (2, 0), (1, 2)]:
        p = win_probability(judge, [a], [b])[0]
        y = simulate_outcomes(judge, np.full(m, a), np.full(m, b), rng)
        assert y.mean() == pytest.approx(p, abs=0.012)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"noise": 0.0}, "noise"),
        ({"lapse": 1.5}, "lapse"),
        ({"position_bias": math.inf}, "position_bias"),
    ],
)
def test_invalid_judge_raises(kwargs: dict[str, float], match: str) -> None:
    """Invalid judge parameters are input errors."""
    with pytest.raises(InputError, match=match):
        SimulatedJudge(np.zeros(3), **kwargs)


def test_invalid_indices_raise() -> None:
    """Out-of-range indices and mismatched lengths are input errors."""
    judge = SimulatedJudge(np.zeros(3))
    with pytest.raises(InputError, match="out of range"):
        win_probability(judge, [0], [3])
    with pytest.raises(InputError, match="differ"):
        win_probability(judge, [0, 1], [2])


def test_draw_abilities(rng: np.random.Generator) -> None:
    """True abilities have the requested spread; bad arguments raise."""
    theta = draw_abilities(5000, 1.5, rng)
    assert np.std(theta) == pytest.approx(1.5, rel=0.05)
    with pytest.raises(InputError):
        draw_abilities(1, 1.0, rng)
    with pytest.raises(InputError):
        draw_abilities(10, -1.0, rng)


def test_run_is_deterministic() -> None:
    """The same scenario and seed give the same trace."""
    scenario = Scenario(n_essays=12, max_rounds=4)
    first = simulate_run(scenario, "default", 3, stop_when_reached=False)
    second = simulate_run(scenario, "default", 3, stop_when_reached=False)
    # NaN-aware equality (SSR is undefined while the design is disconnected).
    np.testing.assert_equal(
        [dataclasses.astuple(r) for r in first.rounds],
        [dataclasses.astuple(r) for r in second.rounds],
    )
    assert [r.comparisons_per_essay for r in first.rounds] == [1.0, 2.0, 3.0, 4.0]


def test_default_beats_random_on_a_small_scenario() -> None:
    """On 30 essays the default strategy's estimates are closer to the truth than random
    pairing's after the same number of rounds (mean over seeds and rounds 4-10)."""
    scenario = Scenario(n_essays=30, sd=1.5, max_rounds=10)

    def mean_truth(strategy: str) -> float:
        traces = [
            simulate_run(scenario, strategy, s, stop_when_reached=False, estimate_reliability=False)
            for s in range(4)
        ]
        return float(np.mean([r.truth_reliability for t in traces for r in t.rounds[3:]]))

    assert mean_truth("default") > mean_truth("random") + 0.02


def test_summary_reports_targets() -> None:
    """A comparison reaches the Spearman target within the round limit and reports the
    reliabilities at that round."""
    scenario = Scenario(n_essays=12, sd=2.0, max_rounds=25)
    (summary,) = compare_strategies(scenario, ["random"], [0, 1], estimate_reliability=False)
    assert summary.n_runs == 2
    assert summary.reached_spearman == 2
    assert 1.0 <= summary.to_spearman <= 25.0
    assert 0.0 < summary.truth_at_spearman <= 1.0


def test_invalid_scenario_raises() -> None:
    """Invalid scenarios and strategies are input errors, before any run."""
    with pytest.raises(InputError):
        Scenario(n_essays=2)
    with pytest.raises(InputError):
        Scenario(lapse=-0.1)
    with pytest.raises(InputError):
        Scenario(spearman_target=1.0)
    with pytest.raises(InputError, match="unknown pairing strategy"):
        simulate_run(Scenario(n_essays=8, max_rounds=1), "greedy", 0)
    with pytest.raises(InputError):
        compare_strategies(Scenario(), [], [0])
