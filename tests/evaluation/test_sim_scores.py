"""``sim/scores``: a registered simulated judge that knows the human scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cjgrade.errors import ConfigError
from cjgrade.judges import get_judge
from cjgrade.judges.base import JudgeRequest, Winner
from cjgrade.judges.sim import text_key
from cjgrade.judges.sim_scores import abilities_from_scores

TEXTS = {"low essay": 1, "middle essay": 2, "high essay": 3}


def _request(a: str, b: str) -> JudgeRequest:
    return JudgeRequest(system_prompt="", student_prompt="", instructions="Which is better?",
                        rubric="", essay_a=a, essay_b=b)


def _scores() -> dict[str, float]:
    return {text_key(t): float(s) for t, s in TEXTS.items()}


def test_abilities_are_standardised_scores() -> None:
    theta = abilities_from_scores({"a": 1, "b": 2, "c": 3}, spread=2.0)
    sd = math.sqrt(2 / 3)
    assert theta == pytest.approx({"a": -2 / sd, "b": 0.0, "c": 2 / sd})


async def test_soft_without_noise_is_the_sigmoid_of_the_ability_gap() -> None:
    judge = get_judge("sim/scores", options={"scores": _scores(), "belief_noise": 0.0,
                                             "spread": 1.0})
    verdict = await judge.judge(_request("high essay", "low essay"))
    gap = 2 / math.sqrt(2 / 3)
    assert verdict.p_a == pytest.approx(min(0.995, 1 / (1 + math.exp(-gap))))
    assert verdict.winner is Winner.A and "not an LLM" in verdict.justification
    assert judge.ledger.as_dict()["sim/scores"]["cost_usd"] == 0.0


async def test_hard_outcomes_follow_the_belief_probability() -> None:
    judge = get_judge("sim/scores", options={"scores": _scores(), "soft": False,
                                             "belief_noise": 0.0, "spread": 1.0, "seed": 5})
    p = [(await judge.judge(_request("middle essay", "low essay"))).p_a for _ in range(400)]
    assert set(p) <= {0.0, 1.0}
    expected = 1 / (1 + math.exp(-1 / math.sqrt(2 / 3)))
    assert abs(np.mean(p) - expected) < 0.07


async def test_belief_noise_spreads_soft_outcomes_reproducibly() -> None:
    options = {"scores": _scores(), "belief_noise": 1.0, "seed": 2}
    first, second = get_judge("sim/scores", options=options), get_judge("sim/scores",
                                                                          options=options)
    a = [(await first.judge(_request("middle essay", "low essay"))).p_a for _ in range(30)]
    b = [(await second.judge(_request("middle essay", "low essay"))).p_a for _ in range(30)]
    assert a == b and len(set(a)) == 30 and all(0 < x < 1 for x in a)


async def test_unknown_essay_and_bad_options() -> None:
    judge = get_judge("sim/scores", options={"scores": _scores()})
    with pytest.raises(Exception, match="no human score for an essay"):
        await judge.judge(_request("stranger", "low essay"))
    with pytest.raises(ConfigError, match="sim/scores needs options"):
        get_judge("sim/scores")
    with pytest.raises(ConfigError, match=r"unknown options \['noise'\]"):
        get_judge("sim/scores", options={"scores": _scores(), "noise": 2})
    with pytest.raises(ConfigError, match="same score"):
        get_judge("sim/scores", options={"scores": {"a": 1, "b": 1}})
    with pytest.raises(ConfigError, match="belief_noise must be a non-negative"):
        get_judge("sim/scores", options={"scores": _scores(), "belief_noise": -1})
