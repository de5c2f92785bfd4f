"""What a judge call costs: the one pricing path of the per-request runtime and the provider
batch judges.

- :func:`checked_usage`: a usage report that cannot be priced (unreadable, negative,
  implausible: :func:`~cjgrade.judges.cost.usage_problem`) is replaced by 0 tokens and flagged
  ``usage_unusable:<reason>``; the verdict is kept (it was paid for), its cost is unknown.
- :func:`priced_verdict`: the verdict with its cost: unknown when its usage is unusable, the
  adapter's own figure when it gave one, else the manifest price (the batch rate for a verdict
  flagged ``batch_api``).
- :func:`failure_charge`: what a failed reply billed (an invalid reply is billed too; a 5xx or
  a timeout is not): its usage and cost, the cost unknown (never 0) when the usage cannot be
  priced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cjgrade.errors import JudgeError
from cjgrade.judges.base import ModelInfo, Usage, Verdict
from cjgrade.judges.cost import compute_cost, price_verdict, usage_problem
from cjgrade.judges.verdict import USAGE_UNUSABLE_FLAG

__all__ = ["FailureCharge", "checked_usage", "failure_charge", "is_unusable", "priced_verdict"]


def is_unusable(verdict: Verdict) -> bool:
    """True when the verdict's usage report was found unusable (its cost is unknown)."""
    return any(f.startswith(USAGE_UNUSABLE_FLAG) for f in verdict.flags)


def checked_usage(verdict: Verdict, info: ModelInfo) -> Verdict:
    """``verdict``, or with 0 tokens, no cost and a ``usage_unusable:<reason>`` flag when its
    usage report cannot be priced."""
    if is_unusable(verdict):
        return replace(verdict, usage=Usage(), cost_usd=None)
    problem = usage_problem(verdict.usage, info)
    if problem is None:
        return verdict
    return replace(verdict, usage=Usage(), cost_usd=None,
                   flags=(*verdict.flags, f"{USAGE_UNUSABLE_FLAG}:{problem}"))


def priced_verdict(verdict: Verdict, info: ModelInfo) -> Verdict:
    """``verdict`` (already through :func:`checked_usage`) with its cost set."""
    if is_unusable(verdict):
        return replace(verdict, cost_usd=None)
    if verdict.cost_usd is not None:
        return verdict
    return replace(verdict, cost_usd=price_verdict(verdict, info))


@dataclass(frozen=True)
class FailureCharge:
    """What a failed reply billed."""

    usage: Usage
    """Its tokens (0 when its usage report was unusable or missing)."""
    cost_usd: float | None
    """Its cost; None (unknown, never 0) when the usage could not be priced."""
    problem: str | None
    """Why the cost is unknown, or None."""


def failure_charge(exc: JudgeError, info: ModelInfo, *, batch: bool = False
                   ) -> FailureCharge | None:
    """What the provider billed for the reply behind ``exc``; None when there was no reply
    (nothing billed). ``batch``: priced at the batch rate."""
    usage = exc.usage
    if not (exc.billed_reply or usage is not None):
        return None
    problem = exc.usage_problem
    if usage is not None and problem is None:
        problem = usage_problem(usage, info)
    if problem is not None or usage is None:
        return FailureCharge(Usage(), None, problem or "no usage report")
    return FailureCharge(usage, compute_cost(usage, info, batch=batch), None)
