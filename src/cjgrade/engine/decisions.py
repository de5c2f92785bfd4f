"""Round-end decisions: stop or continue, and fail on a low success rate.

The order matters and is recorded with every round's fit:

1. budget exhausted (comparisons requested >= budget): stop;
2. before ``min_comparisons_per_essay`` successful comparisons per essay on average, continue
   (no reliability or stability stop on a handful of comparisons);
3. reliability target reached (posterior reliability, an SSR estimate that adaptive pairing
   does not inflate), target maximum student SE reached, or stability (max |delta theta|
   between two rounds at most the threshold, once the posterior reliability is at least
   :data:`MIN_RELIABILITY_FOR_STABILITY`): stop;
4. otherwise continue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cjgrade.engine.fitting import RoundEstimate
from cjgrade.engine.ledger import StoredComparison
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec

__all__ = [
    "MIN_ANSWERED_FOR_SUCCESS_RATE",
    "MIN_RELIABILITY_FOR_STABILITY",
    "StopDecision",
    "decide_stop",
    "success_rate_failure",
]

MIN_RELIABILITY_FOR_STABILITY = 0.5
"""Stability counts only once the scale separates the essays: before that the estimated prior
variance is near zero, every ability sits near 0 and barely moves between rounds, so a
"stable" scale would be an empty one."""

MIN_ANSWERED_FOR_SUCCESS_RATE = 10
"""The success-rate rule waits for this many answered comparisons (or a complete round)."""


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str
    """``budget``, ``target_ssr``, ``target_se``, ``stable``, ``continue``, ``no_more_pairs``."""
    max_theta_change: float | None = None


def _max_change(estimate: RoundEstimate, previous: Mapping[str, float] | None) -> float | None:
    if not previous:
        return None
    now = dict(zip(estimate.essay_ids, estimate.theta, strict=True))
    common = [e for e in estimate.essay_ids if e in previous]
    if not common:
        return None
    return float(max(abs(now[e] - previous[e]) for e in common))


def decide_stop(
    estimate: RoundEstimate,
    previous_theta: Mapping[str, float] | None,
    spec: BatchSpec,
    *,
    n_requested: int,
    budget: int,
) -> StopDecision:
    """Apply the stopping rules (see the module docstring) after a round's refit."""
    opts = spec.options
    change = _max_change(estimate, previous_theta)
    if n_requested >= budget:
        return StopDecision(True, "budget", change)
    n = len(estimate.essay_ids)
    if n == 0 or 2 * estimate.n_comparisons / n < opts.min_comparisons_per_essay:
        return StopDecision(False, "continue", change)
    if opts.target_ssr is not None and estimate.reliability >= opts.target_ssr:
        return StopDecision(True, "target_ssr", change)
    if opts.target_se is not None:
        students = [i for i, e in enumerate(spec.essays) if not e.is_anchor]
        if students and float(np.max(estimate.se[students])) <= opts.target_se:
            return StopDecision(True, "target_se", change)
    if (
        opts.stability_threshold is not None and change is not None
        and change <= opts.stability_threshold
        and estimate.reliability >= MIN_RELIABILITY_FOR_STABILITY
    ):
        return StopDecision(True, "stable", change)
    return StopDecision(False, "continue", change)


def success_rate_failure(
    comparisons: Sequence[StoredComparison], options: BatchOptions
) -> str | None:
    """A reason to fail the batch when too few answered comparisons succeeded, else None."""
    answered = [c for c in comparisons if c.status in ("succeeded", "failed")]
    if len(answered) < MIN_ANSWERED_FOR_SUCCESS_RATE and len(answered) < len(comparisons):
        return None
    if not answered:
        return None
    ok = sum(1 for c in answered if c.status == "succeeded")
    rate = ok / len(answered)
    if rate >= options.min_success_rate:
        return None
    failed = [c for c in answered if c.status == "failed"]
    codes: dict[str, int] = {}
    for c in failed:
        code = str(c.row.get("error_code") or "unknown")
        codes[code] = codes.get(code, 0) + 1
    summary = ", ".join(f"{k} x{v}" for k, v in sorted(codes.items(), key=lambda kv: -kv[1]))
    return (
        f"only {ok} of {len(answered)} comparisons succeeded ({rate:.0%} < "
        f"{options.min_success_rate:.0%}); failures: {summary}. Check the judge (key, model, "
        "base URL, server) and run the batch again"
    )
