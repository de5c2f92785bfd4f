"""Live OpenAI calls: run only when OPENAI_API_KEY is set (they cost a fraction of a cent)."""

from __future__ import annotations

import os

import pytest

from cjgrade.judges.base import JudgeSettings, ModelInfo, Winner
from cjgrade.judges.openai import create_judge
from tests.judges.fakes.pairs import clear_pair

pytestmark = pytest.mark.skipif(
    not os.environ.get("OPENAI_API_KEY"),
    reason="live OpenAI test: set OPENAI_API_KEY to run it",
)

CHAT = ModelInfo(provider="openai", model=os.environ.get("CJGRADE_LIVE_OPENAI_MODEL",
                 "gpt-4o-mini-2024-07-18"), max_output_tokens=16384, supports_logprobs=True)
REASONING = ModelInfo(provider="openai", model=os.environ.get(
    "CJGRADE_LIVE_OPENAI_REASONING_MODEL", "gpt-5-nano-2025-08-07"), max_output_tokens=16384,
    supports_temperature=False, supports_reasoning=True)


@pytest.mark.parametrize("strong_first", [True, False])
async def test_live_verdict_with_logprobs(strong_first: bool) -> None:
    """A real chat model accepts the strict schema and picks the clearly better essay, with
    p_a from the winner token's log-probabilities."""
    verdict = await create_judge(CHAT).judge(clear_pair(strong_first))
    assert verdict.winner is (Winner.A if strong_first else Winner.B)
    assert "p_a:logprobs" in verdict.flags
    assert (verdict.p_a > 0.5) == strong_first


async def test_live_reasoning_model() -> None:
    """A real reasoning model accepts max_completion_tokens and reasoning_effort."""
    request = clear_pair(False, JudgeSettings(temperature=None, reasoning_effort="low"))
    verdict = await create_judge(REASONING).judge(request)
    assert verdict.winner is Winner.B
