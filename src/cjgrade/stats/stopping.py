"""Stopping rules for a comparative-judgement batch.

After each round the engine builds a :class:`RoundStatus` (comparisons so far, current and
previous estimates, the reliability it reports) and calls::

    decision = decide_stopping(rules, status)

``rules`` is a :class:`StoppingRules` value: every rule is optional and they compose with
"any rule fires" semantics, checked in a fixed order (budget, target reliability, target
maximum student SE, score stability). The result is a frozen :class:`StopDecision` saying
whether to stop, which rule fired and why, in words a report can show.

- ``budget``: stop once the number of comparisons reaches the budget.
- ``target_reliability``: stop once the reported reliability reaches the target. Which
  reliability is reported is the caller's choice; under adaptive pairing plain SSR is
  inflated, so prefer the posterior-sampled reliability
  (:func:`cjgrade.stats.posterior_sampling.sample_reliability`, see
  ``docs/statistics-pairing.md``).
- ``target_max_se``: stop once the largest standard error among students (anchors excluded)
  is at most the target.
- ``stability_threshold``: stop once no estimate moved more than the threshold since the
  previous round (default 0.025 logits, as in the original system), after at least
  ``min_comparisons`` comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cjgrade.errors import InputError

__all__ = ["RoundStatus", "StopDecision", "StoppingRules", "decide_stopping"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

DEFAULT_STABILITY_THRESHOLD = 0.025


@dataclass(frozen=True)
class StoppingRules:
    """Which stopping rules apply (``None`` switches a rule off).

    Attributes
    ----------
    budget : maximum number of comparisons.
    target_reliability : reliability in ``(0, 1)`` at which to stop.
    target_max_se : largest acceptable student standard error (logits).
    stability_threshold : largest acceptable change of any estimate between rounds (logits).
    min_comparisons : comparisons required before the stability rule may fire (the first
        rounds can look stable by accident).
    """

    budget: int | None = None
    target_reliability: float | None = None
    target_max_se: float | None = None
    stability_threshold: float | None = DEFAULT_STABILITY_THRESHOLD
    min_comparisons: int = 12

    def __post_init__(self) -> None:
        if self.budget is not None and (isinstance(self.budget, bool) or self.budget < 1):
            raise InputError("budget must be a positive number of comparisons")
        if self.target_reliability is not None and not 0.0 < self.target_reliability < 1.0:
            raise InputError("target reliability must be between 0 and 1")
        for name in ("target_max_se", "stability_threshold"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number")
        if self.min_comparisons < 0:
            raise InputError("min_comparisons must be non-negative")


@dataclass(frozen=True)
class RoundStatus:
    """What the rules look at after a round.

    Attributes
    ----------
    n_comparisons : comparisons completed so far.
    theta, se : current estimates and standard errors.
    previous_theta : estimates after the previous round (None after the first).
    reliability : the reliability the caller reports (nan when not yet defined).
    is_anchor : anchors, excluded from the SE rule (default: none).
    """

    n_comparisons: int
    theta: FloatArray
    se: FloatArray
    previous_theta: FloatArray | None = None
    reliability: float = float("nan")
    is_anchor: BoolArray | None = None

    def __post_init__(self) -> None:
        if self.n_comparisons < 0:
            raise InputError("n_comparisons must be non-negative")
        shape = np.shape(self.theta)
        if np.shape(self.se) != shape:
            raise InputError("theta and se differ in shape")
        if self.previous_theta is not None and np.shape(self.previous_theta) != shape:
            raise InputError("previous_theta differs in shape from theta")
        if self.is_anchor is not None and np.shape(self.is_anchor) != shape:
            raise InputError("is_anchor differs in shape from theta")


@dataclass(frozen=True)
class StopDecision:
    """The outcome of :func:`decide_stopping`.

    Attributes
    ----------
    stop : whether to stop now.
    rule : the rule that fired (``"budget"``, ``"target_reliability"``, ``"target_max_se"``,
        ``"stability"``) or ``"continue"``.
    reason : one sentence with the figures, for logs and reports.
    max_change : largest change of an estimate since the previous round (nan if none).
    """

    stop: bool
    rule: str
    reason: str
    max_change: float


def _max_change(status: RoundStatus) -> float:
    if status.previous_theta is None or np.size(status.theta) == 0:
        return float("nan")
    diff = np.asarray(status.theta, dtype=np.float64) - np.asarray(status.previous_theta)
    return float(np.max(np.abs(diff)))


def _max_student_se(status: RoundStatus) -> float:
    se = np.asarray(status.se, dtype=np.float64)
    if status.is_anchor is not None:
        se = se[~np.asarray(status.is_anchor, dtype=np.bool_)]
    return float(np.max(se)) if se.size else float("nan")


def decide_stopping(rules: StoppingRules, status: RoundStatus) -> StopDecision:
    """Apply the rules in order (budget, reliability, SE, stability); the first that fires
    decides. Returns ``StopDecision(stop=False, rule="continue", ...)`` when none does."""
    change = _max_change(status)
    n = status.n_comparisons
    if rules.budget is not None and n >= rules.budget:
        return StopDecision(
            True, "budget", f"{n} comparisons reached the budget of {rules.budget}", change
        )
    rel = status.reliability
    target = rules.target_reliability
    if target is not None and math.isfinite(rel) and rel >= target:
        return StopDecision(
            True,
            "target_reliability",
            f"reliability {rel:.3f} reached the target {target:.3f}",
            change,
        )
    if rules.target_max_se is not None:
        worst = _max_student_se(status)
        if math.isfinite(worst) and worst <= rules.target_max_se:
            return StopDecision(
                True,
                "target_max_se",
                f"largest student SE {worst:.3f} is within the target {rules.target_max_se:.3f}",
                change,
            )
    threshold = rules.stability_threshold
    stable = threshold is not None and math.isfinite(change) and change <= threshold
    if stable and n >= rules.min_comparisons:
        return StopDecision(
            True,
            "stability",
            f"no estimate moved more than {change:.4f} since the previous round "
            f"(threshold {threshold})",
            change,
        )
    return StopDecision(False, "continue", _continue_reason(rules, status, change), change)


def _continue_reason(rules: StoppingRules, status: RoundStatus, change: float) -> str:
    parts = [f"{status.n_comparisons} comparisons"]
    if rules.budget is not None:
        parts[0] += f" of {rules.budget}"
    if rules.target_reliability is not None:
        parts.append(f"reliability {status.reliability:.3f} < {rules.target_reliability:.3f}")
    if rules.target_max_se is not None:
        parts.append(f"max student SE {_max_student_se(status):.3f} > {rules.target_max_se:.3f}")
    if rules.stability_threshold is not None and math.isfinite(change):
        parts.append(f"max change {change:.4f}")
    return "continue: " + ", ".join(parts)
