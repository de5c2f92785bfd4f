"""Both-orders judging: A/B and B/A combined into one soft outcome, both recorded."""

from __future__ import annotations

import json

import pytest

from cjgrade.judges import JudgeRequest, Usage, Verdict, Winner, get_judge
from cjgrade.judges.both_orders import BothOrdersJudge, combine_orders, swap_request

REQUEST = JudgeRequest("s", "p", "i", "r", "essay one", "essay two")


def verdict(winner: str, p_a: float, cost: float | None = 0.01) -> Verdict:
    return Verdict(Winner(winner), p_a, "because", "scripted", "default", "h",
                   usage=Usage(10, 2, 0, 0), cost_usd=cost)


def test_consistent_judge_keeps_its_preference() -> None:
    """Forward 0.9 for original A and reverse 0.1 for original B combine to 0.9, no bias."""
    result = combine_orders(verdict("A", 0.9), verdict("B", 0.1))
    assert result.p_a == pytest.approx(0.9)
    assert result.position_effect == pytest.approx(0.0)
    assert result.consistent


def test_pure_position_bias_cancels_out() -> None:
    """A judge that always picks the first slot with 0.8 gives 0.5 and a bias of 0.3."""
    result = combine_orders(verdict("A", 0.8), verdict("A", 0.8))
    assert result.p_a == pytest.approx(0.5)
    assert result.position_effect == pytest.approx(0.3)
    assert not result.consistent


def test_swap_request_exchanges_only_the_essays() -> None:
    """Swapping exchanges the essays and keeps everything else."""
    swapped = swap_request(REQUEST)
    assert (swapped.essay_a, swapped.essay_b) == (REQUEST.essay_b, REQUEST.essay_a)
    assert swapped.rubric == REQUEST.rubric and swap_request(swapped) == REQUEST


async def test_both_orders_judge_through_the_runtime_records_both() -> None:
    """The wrapper sends both orders, combines them and records both raw verdicts."""
    runtime = get_judge("scripted")
    fake = runtime.adapter
    # a judge that always prefers whichever essay it reads first
    fake.enqueue(lambda req: verdict("A", 0.8), lambda req: verdict("A", 0.8))  # type: ignore[attr-defined]
    combined = await BothOrdersJudge(runtime).judge(REQUEST)
    essays_seen = {(r.essay_a, r.essay_b) for r in fake.history}  # type: ignore[attr-defined]
    assert essays_seen == {("essay one", "essay two"), ("essay two", "essay one")}
    assert combined.p_a == pytest.approx(0.5)
    assert {"both_orders", "orders_disagree", "tie"} <= set(combined.flags)
    raw = json.loads(combined.raw_response)
    assert raw["position_effect"] == pytest.approx(0.3)
    assert set(raw) >= {"forward", "reverse"}
    assert combined.usage.input_tokens == 20


async def test_combined_cost_is_unknown_if_either_is_unknown() -> None:
    """Costs add up; one unknown cost makes the pair's cost unknown."""
    from cjgrade.judges.both_orders import result_to_verdict

    known = result_to_verdict(combine_orders(verdict("A", 1.0), verdict("B", 0.0)))
    assert known.cost_usd == pytest.approx(0.02) and known.winner is Winner.A
    unknown = result_to_verdict(combine_orders(verdict("A", 1.0), verdict("B", 0.0, None)))
    assert unknown.cost_usd is None


async def test_reported_hash_matches_what_the_engine_expects() -> None:
    """BothOrdersJudge.request_sha256 equals the combined verdict's request_sha256."""
    runtime = get_judge("scripted", options={"default": "A"})
    wrapper = BothOrdersJudge(runtime)
    combined = await wrapper.judge(REQUEST)
    assert wrapper.request_sha256(REQUEST) == combined.request_sha256
