"""Options of a batch run: budget, stopping targets, pairing strategy, seed, concurrency.

One frozen value, filled from (lowest to highest priority) defaults, the input folder's
``config.toml`` and command-line flags. Unknown keys are errors, never ignored.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from cjgrade.errors import ConfigError

__all__ = ["DEFAULT_COMPARISONS_PER_ESSAY", "BatchOptions", "merge_options"]

DEFAULT_COMPARISONS_PER_ESSAY = 8
"""Default budget is this many comparisons per essay (each essay then takes part in about
twice as many), close to the 16-17 per essay of the original's ENG5 batches."""


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs. ``None`` budget means ``DEFAULT_COMPARISONS_PER_ESSAY`` x essays."""

    budget: int | None = None
    """Maximum number of comparisons requested (failed ones included: they were paid for)."""
    target_ssr: float | None = 0.9
    """Stop when the (posterior) reliability reaches this (None or 1: no target)."""
    target_se: float | None = None
    """Stop when every student's standard error is at most this (None or 0: no target)."""
    stability_threshold: float | None = 0.025
    """Stop when max |theta change| between rounds is at most this (None or 0: off)."""
    min_comparisons_per_essay: float = 4.0
    """No SSR/SE/stability stop before this many comparisons per essay on average."""
    min_success_rate: float = 0.8
    """Fail the batch when succeeded / answered falls below this after the first round."""
    strategy: str = "default"
    """Pair-selection strategy of :func:`cjgrade.stats.pairing.select_pairs` (``default``,
    ``random``, ``coverage``, ``adaptive``, ``hybrid``, ``anchor``)."""
    seed: int = 0
    """Seed of the pairing random generator (runs are reproducible from it)."""
    alpha: float | None = None
    """Gaussian prior precision of the Bradley-Terry fit; None estimates the prior variance
    from the data each round (empirical Bayes), which keeps early rounds finite and the
    standard errors honest under adaptive pairing."""
    position_effect: bool = True
    """Estimate the first-position (A-slot) effect jointly with the abilities."""
    round_size: int | None = None
    """Comparisons per round (None: half the number of essays, each essay about once, rounded
    up to a multiple of ``concurrency``)."""
    concurrency: int = 8
    """Judge calls in flight at once (embedded mode)."""
    batch_api: bool = False
    """Judge each round as one provider batch (Anthropic/OpenAI batch APIs, half price,
    results within 24 hours); see :mod:`cjgrade.engine.batch_api`."""
    poll_interval_s: float = 60.0
    """Seconds between polls of a provider batch."""

    def resolved_budget(self, n_essays: int) -> int:
        return self.budget if self.budget is not None else DEFAULT_COMPARISONS_PER_ESSAY * n_essays

    def resolved_round_size(self, n_essays: int) -> int:
        """``round_size``, else half the essays rounded up to a whole number of
        ``concurrency`` waves, so the round's last calls do not leave the judge idle."""
        if self.round_size is not None:
            return self.round_size
        half = max(1, n_essays // 2)
        return -(-half // self.concurrency) * self.concurrency

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchOptions:
        return merge_options(cls(), data, source="stored options")


_TYPE_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}

_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "budget": (int,),
    "target_ssr": (float, int),
    "target_se": (float, int),
    "stability_threshold": (float, int),
    "min_comparisons_per_essay": (float, int),
    "min_success_rate": (float, int),
    "strategy": (str,),
    "seed": (int,),
    "alpha": (float, int),
    "position_effect": (bool,),
    "round_size": (int,),
    "concurrency": (int,),
    "batch_api": (bool,),
    "poll_interval_s": (float, int),
}


def _check(name: str, value: Any, source: str) -> Any:
    if value is None:
        if name in ("budget", "target_ssr", "target_se", "stability_threshold", "round_size",
                    "alpha"):
            return None
        raise ConfigError(f"{source}: {name} cannot be empty; give a value or leave the key out")
    types = _FIELD_TYPES[name]
    if isinstance(value, bool) and bool not in types:
        raise ConfigError(f"{source}: {name} must be a number, not {value!r}")
    if not isinstance(value, types):
        expected = " or ".join(_TYPE_NAMES[t] for t in types)
        raise ConfigError(
            f"{source}: {name} must be {expected}, not {type(value).__name__} {value!r}"
        )
    if isinstance(value, str):
        return value
    try:
        number = float(value)  # type: ignore[arg-type]  # an int or float, checked above
    except OverflowError:  # an integer of hundreds of digits
        raise ConfigError(f"{source}: {name} is too large; give a smaller value") from None
    if not math.isfinite(number):
        raise ConfigError(f"{source}: {name} must be a finite number (got {value})")
    if name in ("budget", "round_size", "concurrency") and number < 1:
        raise ConfigError(f"{source}: {name} must be at least 1 (got {value})")
    if name == "min_success_rate" and not 0.0 <= number <= 1.0:
        raise ConfigError(f"{source}: {name} must be between 0 and 1 (got {value})")
    if name == "target_ssr" and not 0.0 < number <= 1.0:
        raise ConfigError(f"{source}: {name} must be above 0 and at most 1 (1 = off; got {value})")
    if name in ("target_se", "stability_threshold", "alpha", "min_comparisons_per_essay",
                "poll_interval_s") and (
        number < 0
    ):
        raise ConfigError(f"{source}: {name} must be non-negative (got {value})")
    return number if float in types and not isinstance(value, bool) else value


def merge_options(base: BatchOptions, overrides: dict[str, Any], *, source: str) -> BatchOptions:
    """Return ``base`` with ``overrides`` applied, each key checked; unknown keys are errors."""
    known = {f.name for f in fields(BatchOptions)}
    changes: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in known:
            raise ConfigError(
                f"{source}: unknown option {name!r}; known options: {', '.join(sorted(known))}"
            )
        changes[name] = _check(name, value, source)
    return replace(base, **changes)
