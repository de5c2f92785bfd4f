"""scripted: enqueue verdicts and errors, inspect history; found through the real registry."""

from __future__ import annotations

import pytest

from cjgrade.errors import InputError, JudgeOutputInvalid
from cjgrade.judges import JudgeRequest, Verdict, Winner, get_judge
from cjgrade.judges.scripted import ScriptedJudge

REQUEST = JudgeRequest("s", "p", "i", "r", "first essay", "second essay")


async def test_replays_enqueued_responses_in_order_and_records_history() -> None:
    """Winners, verdict objects and functions of the request are replayed in order."""
    fake = ScriptedJudge()
    custom = Verdict(Winner.B, 0.2, "custom", "scripted", "default", "x")
    fake.enqueue("A", custom, lambda req: Verdict(Winner.A, 0.6, req.essay_a, "s", "m", "y"))
    assert (await fake.judge(REQUEST)).p_a == 1.0
    assert await fake.judge(REQUEST) is custom
    assert (await fake.judge(REQUEST)).justification == "first essay"
    assert fake.history == [REQUEST] * 3 and fake.pending == 0


async def test_enqueued_errors_are_raised() -> None:
    """An enqueued JudgeError is raised by judge()."""
    fake = ScriptedJudge().enqueue(JudgeOutputInvalid("refused"))
    with pytest.raises(JudgeOutputInvalid, match="refused"):
        await fake.judge(REQUEST)


async def test_empty_queue_is_an_error_unless_a_default_is_given() -> None:
    """With nothing queued the scripted judge refuses instead of inventing a verdict."""
    with pytest.raises(InputError, match="enqueue"):
        await ScriptedJudge().judge(REQUEST)
    assert (await ScriptedJudge(default="B").judge(REQUEST)).winner is Winner.B


async def test_through_the_real_registry() -> None:
    """get_judge('scripted') wraps the fake in the runtime; verdicts carry price and latency."""
    runtime = get_judge("scripted")
    fake = runtime.adapter
    assert isinstance(fake, ScriptedJudge)
    fake.enqueue("B")
    verdict = await runtime.judge(REQUEST)
    assert verdict.winner is Winner.B and verdict.cost_usd == 0.0
    assert runtime.name == "scripted/default"
    assert "not an LLM" in verdict.justification
