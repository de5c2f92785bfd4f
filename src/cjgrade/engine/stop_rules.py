"""Round-end decisions: stop or continue, and fail on a low success rate.

The stopping rules are ``cjgrade.stats.stopping`` (budget, target reliability, target maximum
student SE, stability; first that fires decides, in that order). The engine composes them:

- the reliability it reports to them is the round's ``RoundEstimate.reliability``: the
  posterior-sampled reliability (honest under adaptive pairing, where SSR is inflated and the
  Laplace empirical-Bayes figure reads about 0.2 too low), or the Laplace figure above
  ``cjgrade.engine.fitting.MAX_SAMPLED_ITEMS`` essays; the decision's explanation (stored
  with the round's fit) names which one was used;
- before ``min_comparisons_per_essay`` successful comparisons per essay on average only the
  budget can stop a batch;
- a round whose reliability no rule reads (before that warm-up, or with neither a reliability
  target nor the stability rule on) is fitted without the sampler
  (:func:`reliability_is_read`) and reports the Laplace figure, labelled as such; the final
  fit of a batch always samples;
- stability counts only once that reliability is at least
  :data:`MIN_RELIABILITY_FOR_STABILITY`;
- option values that can never be reached switch a rule off: ``target_reliability = 1``,
  ``target_se = 0``, ``stability_threshold = 0`` (TOML has no null).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cjgrade.engine.fitting import RoundEstimate
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec
from cjgrade.stats.stopping import RoundStatus, StoppingRules, decide_stopping
from cjgrade.store.records import ComparisonRecord

__all__ = [
    "MIN_ANSWERED_FOR_SUCCESS_RATE",
    "MIN_COMPARISONS_FOR_STABILITY",
    "MIN_RELIABILITY_FOR_STABILITY",
    "RoundStop",
    "decide_stop",
    "reliability_is_read",
    "success_rate_failure",
]

MIN_RELIABILITY_FOR_STABILITY = 0.5
"""Stability counts only once the scale separates the essays: before that the estimated prior
variance is near zero, every ability sits near 0 and barely moves between rounds, so a
"stable" scale would be an empty one."""

MIN_COMPARISONS_FOR_STABILITY = 12
"""As the original (``MIN_COMPARISONS_FOR_STABILITY_CHECK``)."""

MIN_ANSWERED_FOR_SUCCESS_RATE = 10
"""The success-rate rule waits for this many answered comparisons (or a complete round)."""


@dataclass(frozen=True)
class RoundStop:
    """Whether a batch stops after a round, and why (what the round fit records)."""

    stop: bool
    rule: str
    """``budget``, ``target_reliability``, ``target_max_se``, ``stability``, ``continue``,
    ``no_more_pairs``."""
    max_theta_change: float | None = None
    explanation: str = ""
    """:attr:`cjgrade.stats.stopping.StopDecision.reason` with the reliability method."""


def _on(value: float | None, off: float) -> float | None:
    return None if value is None or value == off else value


def _warmed_up(options: BatchOptions, n_essays: int, n_fitted: int) -> bool:
    return n_essays > 0 and 2 * n_fitted / n_essays >= options.min_comparisons_per_essay


def reliability_is_read(options: BatchOptions, n_essays: int, n_fitted: int) -> bool:
    """Whether a round fitted on ``n_fitted`` successful comparisons (an upper bound will do)
    has its reliability read by a stopping rule: the reliability target or, through its
    "separated" condition, the stability rule, both only after the warm-up."""
    rules_on = (_on(options.target_reliability, 1.0) is not None
                or _on(options.stability_threshold, 0.0) is not None)
    return rules_on and _warmed_up(options, n_essays, n_fitted)


def decide_stop(
    estimate: RoundEstimate,
    previous_theta: Mapping[str, float] | None,
    spec: BatchSpec,
    *,
    n_requested: int,
    budget: int,
) -> RoundStop:
    """Apply the stopping rules (see the module docstring) after a round's refit."""
    opts = spec.options
    n = len(estimate.essay_ids)
    warmed_up = _warmed_up(opts, n, estimate.n_comparisons)
    separated = estimate.reliability >= MIN_RELIABILITY_FOR_STABILITY
    rules = StoppingRules(
        budget=budget,
        target_reliability=_on(opts.target_reliability, 1.0) if warmed_up else None,
        target_max_se=_on(opts.target_se, 0.0) if warmed_up else None,
        stability_threshold=(_on(opts.stability_threshold, 0.0)
                             if warmed_up and separated else None),
        min_comparisons=MIN_COMPARISONS_FOR_STABILITY,
    )
    previous = None
    if previous_theta and all(e in previous_theta for e in estimate.essay_ids):
        previous = np.array([previous_theta[e] for e in estimate.essay_ids])
    status = RoundStatus(
        n_comparisons=n_requested, theta=estimate.theta, se=estimate.se,
        previous_theta=previous, reliability=estimate.reliability,
        is_anchor=np.array([e.is_anchor for e in spec.essays], dtype=np.bool_),
    )
    decision = decide_stopping(rules, status)
    change = decision.max_change if np.isfinite(decision.max_change) else None
    explanation = (f"{decision.reason} [reliability {estimate.reliability:.3f}: "
                   f"{estimate.reliability_method}]")
    return RoundStop(decision.stop, decision.rule, change, explanation)


def success_rate_failure(
    comparisons: Sequence[ComparisonRecord], options: BatchOptions
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
        code = str(c.error_code or "unknown")
        codes[code] = codes.get(code, 0) + 1
    summary = ", ".join(f"{k} x{v}" for k, v in sorted(codes.items(), key=lambda kv: -kv[1]))
    commonest = max(codes, key=lambda code: codes[code])
    example = next(str(c.error_reason or "") for c in failed
                   if str(c.error_code or "unknown") == commonest)
    example = example if len(example) <= 200 else example[:199] + "…"
    return (
        f"only {ok} of {len(answered)} comparisons succeeded ({rate:.0%} < "
        f"{options.min_success_rate:.0%}); failures: {summary}"
        + (f" (e.g. {example})" if example else "")
        + ". Check the judge (key, model, base URL, server) and run the batch again"
    )
