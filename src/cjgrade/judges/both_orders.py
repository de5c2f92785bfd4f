"""Judge a pair in both orders (A/B and B/A) and combine the two into one soft outcome.

Position bias control: if a judge favours whichever essay it reads first, averaging the two
orders cancels that bias to first order. With ``p_fwd`` the A/B call's ``p_a`` (P(original A
better)) and ``p_rev`` the B/A call's ``p_a`` (P(original B better)), the combined
probability that the original essay A is better is ``(p_fwd + 1 - p_rev) / 2``, and
``(p_fwd + p_rev - 1) / 2`` estimates the first-position advantage (0 for an unbiased judge).
Both verdicts are kept.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace

from cjgrade.judges.base import Judge, JudgeRequest, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request
from cjgrade.judges.cost import add_cost, add_usage

__all__ = ["BothOrdersJudge", "BothOrdersResult", "combine_orders", "swap_request"]


def swap_request(request: JudgeRequest) -> JudgeRequest:
    """The same request with the two essays exchanged."""
    return replace(request, essay_a=request.essay_b, essay_b=request.essay_a)


@dataclass(frozen=True)
class BothOrdersResult:
    """Both verdicts on one pair and their combination (in the original A/B orientation)."""

    forward: Verdict
    """Verdict with the original essay A shown first."""
    reverse: Verdict
    """Verdict with the original essay B shown first (its ``p_a`` refers to original B)."""
    p_a: float
    """Combined probability that the original essay A is the better one."""
    position_effect: float
    """Half the excess of P(first shown wins) over 1 across the two calls: 0 when unbiased,
    positive when the first slot is favoured."""

    @property
    def consistent(self) -> bool:
        """True when both calls picked the same essay."""
        return self.forward.winner != self.reverse.winner


def combine_orders(forward: Verdict, reverse: Verdict) -> BothOrdersResult:
    """Combine an A/B verdict and the B/A verdict of the same pair."""
    p_a = (forward.p_a + (1.0 - reverse.p_a)) / 2.0
    bias = (forward.p_a + reverse.p_a - 1.0) / 2.0
    return BothOrdersResult(forward, reverse, p_a, bias)


async def judge_both_orders(judge: Judge, request: JudgeRequest) -> BothOrdersResult:
    """Run both orders concurrently through ``judge`` and combine them."""
    forward, reverse = await asyncio.gather(judge.judge(request),
                                            judge.judge(swap_request(request)))
    return combine_orders(forward, reverse)


def result_to_verdict(result: BothOrdersResult) -> Verdict:
    """One :class:`Verdict` carrying the combined ``p_a`` and both raw verdicts.

    Winner follows the combined probability; an exact 0.5 (the orders cancel out) is flagged
    ``tie`` and labelled with the forward call's pick only as a label: the fit uses ``p_a``.
    """
    fwd, rev = result.forward, result.reverse
    flags = [*fwd.flags, *(f for f in rev.flags if f not in fwd.flags), "both_orders"]
    if not result.consistent:
        flags.append("orders_disagree")
    if result.p_a > 0.5:
        winner = Winner.A
    elif result.p_a < 0.5:
        winner = Winner.B
    else:
        winner = fwd.winner
        flags.append("tie")
    raw = json.dumps({
        "forward": {"winner": fwd.winner.value, "p_a": fwd.p_a, "raw": fwd.raw_response,
                    "request_sha256": fwd.request_sha256},
        "reverse": {"winner": rev.winner.value, "p_a": rev.p_a, "raw": rev.raw_response,
                    "request_sha256": rev.request_sha256},
        "position_effect": result.position_effect,
    })
    return Verdict(
        winner=winner,
        p_a=result.p_a,
        justification=f"A/B: {fwd.justification} | B/A: {rev.justification}",
        provider=fwd.provider,
        model=fwd.model,
        request_sha256=fwd.request_sha256,
        usage=add_usage(fwd.usage, rev.usage),
        cost_usd=add_cost(fwd.cost_usd, rev.cost_usd),
        latency_s=max(fwd.latency_s, rev.latency_s),
        raw_response=raw,
        flags=tuple(flags),
        attempts=fwd.attempts + rev.attempts,
    )


class BothOrdersJudge:
    """A :class:`Judge` that asks its inner judge (usually a runtime) for both orders."""

    def __init__(self, inner: Judge) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    def request_sha256(self, request: JudgeRequest) -> str:
        """The hash the combined verdict reports: the forward (A/B) request's."""
        own = getattr(self.inner, "request_sha256", None)
        return str(own(request)) if callable(own) else fingerprint_request(request)

    async def judge_pair(self, request: JudgeRequest) -> BothOrdersResult:
        """Both verdicts and their combination."""
        return await judge_both_orders(self.inner, request)

    async def judge(self, request: JudgeRequest) -> Verdict:
        return result_to_verdict(await self.judge_pair(request))
