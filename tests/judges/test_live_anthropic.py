"""Live Anthropic calls: run only when ANTHROPIC_API_KEY is set (they cost a few cents)."""

from __future__ import annotations

import os

import pytest

from cjgrade.judges.anthropic import create_judge
from cjgrade.judges.base import JudgeSettings, ModelInfo, Winner
from tests.judges.fakes.pairs import clear_pair

pytestmark = pytest.mark.skipif(
    not os.environ.get("ANTHROPIC_API_KEY"),
    reason="live Anthropic test: set ANTHROPIC_API_KEY to run it",
)

MODEL = os.environ.get("CJGRADE_LIVE_ANTHROPIC_MODEL", "claude-haiku-4-5-20251001")
INFO = ModelInfo(provider="anthropic", model=MODEL, max_output_tokens=64000,
                 supports_reasoning=True)


@pytest.mark.parametrize("strong_first", [True, False])
async def test_live_verdict_picks_the_clearly_better_essay(strong_first: bool) -> None:
    """A real model, through forced tool use, picks the clearly better essay in both orders
    and reports token usage."""
    verdict = await create_judge(INFO).judge(clear_pair(strong_first))
    assert verdict.winner is (Winner.A if strong_first else Winner.B)
    assert verdict.usage.input_tokens + verdict.usage.cache_read_tokens > 0
    assert verdict.usage.output_tokens > 0


async def test_live_verdict_with_extended_thinking() -> None:
    """With a thinking budget (tool_choice auto) the model still returns a valid verdict."""
    request = clear_pair(True, JudgeSettings(temperature=None, reasoning_effort="low"))
    verdict = await create_judge(INFO).judge(request)
    assert verdict.winner is Winner.A
