"""Options of a batch run: budget, stopping targets, pairing strategy, seed, concurrency.

One frozen value, filled from (lowest to highest priority) defaults, the input folder's
``config.toml`` (its ``[run]`` table) and command-line flags. Each option is declared once,
below, with its type, range and help text (the field's docstring); the folder config, the
stored options of a batch and the command line are all checked against that declaration
(:func:`cjgrade.config_schema.validate_table`). Unknown keys are errors, never ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, ConfigDict, Field

from cjgrade.config_schema import ConfigTable, validate_table
from cjgrade.errors import ConfigError
from cjgrade.judges.base import JudgeSettings

__all__ = ["DEFAULT_COMPARISONS_PER_ESSAY", "BatchOptions", "merge_options", "option_help"]

DEFAULT_COMPARISONS_PER_ESSAY = 8
"""Default budget is this many comparisons per essay (each essay then takes part in about
twice as many), close to the 16-17 per essay of the original's ENG5 batches."""


def _not_huge(value: int) -> int:
    if abs(value) > 2**63:  # an integer of hundreds of digits
        raise ValueError("is too large; give a smaller value")
    return value


_Count = Annotated[int, Field(ge=1), AfterValidator(_not_huge)]
_NonNegative = Annotated[float, Field(ge=0)]


class BatchOptions(ConfigTable):
    """How a batch runs. ``None`` budget means ``DEFAULT_COMPARISONS_PER_ESSAY`` x essays."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    budget: _Count | None = None
    """Maximum number of comparisons requested (failed ones included: they were paid for)."""
    target_reliability: Annotated[float, Field(gt=0, le=1)] | None = Field(
        0.9, validation_alias=AliasChoices("target_reliability", "target_ssr"))
    """Stop when the posterior reliability of the round's fit reaches this; above 0 and at
    most 1 (None or 1: no target). Read under its old name ``target_ssr`` too (stored batches
    and config files of earlier releases): it never targeted the conventional SSR."""
    target_se: _NonNegative | None = None
    """Stop when every student's standard error is at most this (None or 0: no target)."""
    stability_threshold: _NonNegative | None = 0.025
    """Stop when max |theta change| between rounds is at most this (None or 0: off)."""
    min_comparisons_per_essay: _NonNegative = 4.0
    """No SSR/SE/stability stop before this many comparisons per essay on average."""
    min_success_rate: Annotated[float, Field(ge=0, le=1)] = 0.8
    """Fail the batch when succeeded / answered falls below this after the first round."""
    strategy: str = "default"
    """Pair-selection strategy of :func:`cjgrade.stats.pairing.select_pairs` (``default``,
    ``random``, ``coverage``, ``adaptive``, ``hybrid``, ``anchor``)."""
    seed: Annotated[int, AfterValidator(_not_huge)] = 0
    """Seed of the pairing random generator (runs are reproducible from it)."""
    alpha: _NonNegative | None = None
    """Gaussian prior precision of the Bradley-Terry fit; None estimates the prior variance
    from the data each round (empirical Bayes), which keeps early rounds finite and the
    standard errors honest under adaptive pairing."""
    position_effect: bool = True
    """Estimate the first-position (A-slot) effect jointly with the abilities."""
    round_size: _Count | None = None
    """Comparisons per round (None: half the number of essays, each essay about once, rounded
    up to a multiple of ``concurrency``)."""
    concurrency: _Count = 8
    """Judge calls in flight at once (embedded mode)."""
    batch_api: bool = False
    """Judge each round as one provider batch (Anthropic/OpenAI batch APIs, half price,
    results within 24 hours); see :mod:`cjgrade.engine.batch_api`."""
    poll_interval_s: _NonNegative = 60.0
    """Seconds between polls of a provider batch."""
    temperature: Annotated[float, Field(ge=0, le=2)] | None = 0.0
    """Sampling temperature sent to the judge (0.0 is a value: greedy; None: the provider
    default)."""
    max_tokens: _Count = 1024
    """Output-token budget of one verdict sent to the judge."""
    reasoning_effort: Literal["none", "low", "medium", "high"] | None = None
    """Reasoning effort sent to reasoning models (None: the model's default)."""
    output_verbosity: Literal["low", "medium", "high"] | None = None
    """Output verbosity sent to OpenAI models that take it (None: the model's default)."""

    def judge_settings(self) -> JudgeSettings:
        """The generation settings every judge request of the batch carries."""
        return JudgeSettings(temperature=self.temperature, max_tokens=self.max_tokens,
                             reasoning_effort=self.reasoning_effort,
                             output_verbosity=self.output_verbosity)

    def resolved_budget(self, n_essays: int) -> int:
        return self.budget if self.budget is not None else DEFAULT_COMPARISONS_PER_ESSAY * n_essays

    def resolved_round_size(self, n_essays: int, wave: int | None = None) -> int:
        """``round_size``, else half the essays rounded up to a whole number of waves of
        ``wave`` calls (a cluster's capacity; default ``concurrency``), so the round's last
        calls do not leave the judge idle."""
        if self.round_size is not None:
            return self.round_size
        wave = wave or self.concurrency
        half = max(1, n_essays // 2)
        return -(-half // wave) * wave

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchOptions:
        return merge_options(cls(), data, source="stored options")


def merge_options(base: BatchOptions, overrides: dict[str, Any], *, source: str) -> BatchOptions:
    """Return ``base`` with ``overrides`` applied, each key checked against the declaration
    of :class:`BatchOptions`; unknown keys are errors naming the allowed ones."""
    merged = base.model_dump()
    for name, info in BatchOptions.model_fields.items():
        alias = info.validation_alias
        old = alias.choices if isinstance(alias, AliasChoices) else ()
        given = [key for key in old if key in overrides]
        if len(given) > 1:
            raise ConfigError(f"{source}: {' and '.join(given)} are one option ({given[-1]} is "
                              f"its old name): give {name} only")
        if given and given[0] != name:
            del merged[name]  # given under its old name: that value wins over the base's
    return validate_table(BatchOptions, {**merged, **overrides}, source=source)


def option_help(name: str) -> str:
    """Command-line help of batch option ``name``, from its declaration in
    :class:`BatchOptions`: the field's docstring, its range and its default."""
    info = BatchOptions.model_fields[name]
    text = " ".join((info.description or "").split())
    text = re.sub(r":\w+:`([^`]*)`", r"\1", text).replace("``", "")  # Sphinx roles, literals
    prop = BatchOptions.model_json_schema()["properties"][name]
    limits: dict[str, Any] = {}
    for arm in [prop, *prop.get("anyOf", [])]:
        limits.update({k: v for k, v in arm.items() if k.endswith(("imum", "Minimum", "Maximum"))})
    words = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    bounds = [f"{word} {limits[k]}" for k, word in words.items() if k in limits]
    range_text = f" Range: {', '.join(bounds)}." if bounds else ""
    shown = str(info.default).lower() if isinstance(info.default, bool) else info.default
    default = "" if info.default is None else f" Default: {shown}."
    # No brackets: the CLI renders help as Rich markup, where "[run]" would vanish.
    return f"{text}{range_text}{default} (config.toml: {name} in the run table)"
