"""sim/bt: a Bradley-Terry judge with known truth, seeded and honest about what it is."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cjgrade.errors import ConfigError, InputError
from cjgrade.judges import JudgeRequest, ManualClock, Winner, get_judge
from cjgrade.judges.sim import SimJudge, text_key

STRONG, WEAK = "a strong essay", "a weak essay"
ABILITIES = {text_key(STRONG): 1.0, text_key(WEAK): -0.5}


def request(a: str, b: str) -> JudgeRequest:
    return JudgeRequest("", "", "", "", a, b)


async def test_win_frequency_matches_the_bradley_terry_probability() -> None:
    """Over 4000 draws A wins with frequency sigmoid(theta_A - theta_B) within 3 SE."""
    judge = SimJudge(ABILITIES, seed=11)
    wins = [(await judge.judge(request(STRONG, WEAK))).winner is Winner.A for _ in range(4000)]
    p = 1 / (1 + math.exp(-1.5))
    se = math.sqrt(p * (1 - p) / 4000)
    assert abs(np.mean(wins) - p) < 3 * se


async def test_same_seed_same_verdicts() -> None:
    """Two judges with the same seed give the same sequence of verdicts."""
    one, two = SimJudge(ABILITIES, seed=5), SimJudge(ABILITIES, seed=5)
    seq_one = [(await one.judge(request(STRONG, WEAK))).winner for _ in range(50)]
    seq_two = [(await two.judge(request(STRONG, WEAK))).winner for _ in range(50)]
    assert seq_one == seq_two


async def test_position_bias_and_soft_outcomes() -> None:
    """position_bias adds log-odds for slot A; soft=True reports that probability as p_a."""
    judge = SimJudge({STRONG: 0.0, WEAK: 0.0}, position_bias=math.log(3), soft=True, seed=1)
    verdict = await judge.judge(request(WEAK, STRONG))
    assert verdict.p_a == pytest.approx(0.75)
    assert "not an LLM" in verdict.justification


async def test_unknown_essay_is_an_input_error() -> None:
    """An essay missing from the abilities mapping is an error, not a coin flip."""
    with pytest.raises(InputError, match="no true ability"):
        await SimJudge(ABILITIES).judge(request(STRONG, "an essay nobody scored"))


async def test_latency_uses_the_injected_clock() -> None:
    """latency_s waits on the clock, so a ManualClock makes it virtual."""
    clock = ManualClock()
    judge = get_judge("sim/bt", clock=clock, options={"abilities": ABILITIES, "latency_s": 0.2})
    verdict = await judge.judge(request(STRONG, WEAK))
    assert clock.sleeps == [0.2]
    assert verdict.latency_s == pytest.approx(0.2)


async def test_noise_and_lapse_follow_the_statistics_core() -> None:
    """noise divides the ability difference; lapse 1 makes every answer a coin flip."""
    noisy = SimJudge(ABILITIES, noise=3.0, soft=True)
    assert (await noisy.judge(request(STRONG, WEAK))).p_a == pytest.approx(
        1 / (1 + math.exp(-0.5)))
    coin = SimJudge(ABILITIES, lapse=1.0, soft=True)
    assert (await coin.judge(request(STRONG, WEAK))).p_a == pytest.approx(0.5)


def test_registry_requires_abilities() -> None:
    """sim/bt without abilities, with unknown options or invalid values is a ConfigError."""
    with pytest.raises(ConfigError, match="invalid options"):
        get_judge("sim/bt", options={"abilities": ABILITIES, "noise": 0.0})
    with pytest.raises(ConfigError, match="abilities"):
        get_judge("sim/bt")
    with pytest.raises(ConfigError, match="unknown options"):
        get_judge("sim/bt", options={"abilities": ABILITIES, "temperature": 1})
