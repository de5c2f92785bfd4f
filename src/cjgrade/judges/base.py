"""The judge contract: what a judge receives, what it returns, and the protocol every adapter
implements. Retries, rate limits, concurrency, caching and cost live around adapters, once.

Essay ids never appear in a :class:`JudgeRequest`: a judge sees only texts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "Judge",
    "JudgeRequest",
    "JudgeSettings",
    "ModelInfo",
    "ReasoningEffort",
    "ResponseCache",
    "Usage",
    "Verdict",
    "Winner",
]

ReasoningEffort = Literal["none", "low", "medium", "high"]
OutputVerbosity = Literal["low", "medium", "high"]


class Winner(StrEnum):
    A = "A"
    B = "B"


@dataclass(frozen=True)
class JudgeSettings:
    """Generation settings. ``temperature=None`` means the provider default (reasoning models)."""

    temperature: float | None = 0.0
    max_tokens: int = 1024
    reasoning_effort: ReasoningEffort | None = None
    output_verbosity: OutputVerbosity | None = None
    """OpenAI's ``verbosity`` (GPT-5 family); None sends nothing. Providers without such a
    setting refuse a value instead of dropping it."""


@dataclass(frozen=True)
class JudgeRequest:
    """Everything a judge needs to compare two essays; static parts first so they can be cached."""

    system_prompt: str
    student_prompt: str
    instructions: str
    rubric: str
    essay_a: str
    essay_b: str
    settings: JudgeSettings = field(default_factory=JudgeSettings)


@dataclass(frozen=True)
class Usage:
    """Token counts of one provider call."""

    input_tokens: int = 0
    """Uncached input tokens billed at the full input price."""
    output_tokens: int = 0
    """Output tokens, including reasoning/thinking tokens."""
    cache_read_tokens: int = 0
    """Input tokens served from the provider's prompt cache (cheaper)."""
    cache_write_tokens: int = 0
    """Input tokens written to the provider's prompt cache (may cost more)."""


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one ordered pair (A shown first)."""

    winner: Winner
    p_a: float
    """Probability that essay A is the better one, in [0, 1]."""
    justification: str
    provider: str
    model: str
    request_sha256: str
    usage: Usage = field(default_factory=Usage)
    """Tokens billed for this verdict: the answering call plus any invalid replies the provider
    billed before it in the same comparison (then flagged ``billed_retries:N``)."""
    confidence: float | None = None
    """Stated confidence on the documented 1-5 scale, when the judge gave one."""
    cost_usd: float | None = None
    """USD for ``usage`` at manifest prices (batch rate when flagged ``batch_api``); 0 for a
    response-cache hit (flagged ``cached``); None when a price is unknown (never silently 0)."""
    latency_s: float = 0.0
    raw_response: str = ""
    flags: tuple[str, ...] = ()
    """Audit flags, e.g. ``injection_suspected:A``, ``cached``."""
    attempts: int = 1
    """Requests sent to the provider for this verdict, retries after a 429, a 5xx, a timeout
    or an invalid reply included (set by the runtime); 0 for a response-cache hit."""


@runtime_checkable
class Judge(Protocol):
    """One provider/model. ``judge`` raises a :class:`cjgrade.errors.JudgeError` subclass on
    failure; it never invents a winner."""

    @property
    def name(self) -> str:
        """``provider/model``."""
        ...

    async def judge(self, request: JudgeRequest) -> Verdict: ...


@dataclass(frozen=True)
class ModelInfo:
    """One model of the manifest (``judges/models.toml``): metadata, prices, capabilities."""

    provider: str
    model: str
    display_name: str = ""
    description: str = ""
    """For a judge that is not a language model (a model of a ``local`` provider, where it is
    required): what its verdicts follow, as a clause the plan and the reports show after "is
    not a language model:". Empty for language models."""
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_per_mtok: float | None = None
    """USD per million uncached input tokens; None = unknown (cost reported as unknown)."""
    output_per_mtok: float | None = None
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    supports_temperature: bool = True
    supports_logprobs: bool = False
    supports_tools: bool = True
    supports_reasoning: bool = False
    supports_batch_api: bool = False
    batch_price_factor: float | None = None
    """Multiplier on the whole cost of a call made through the provider's batch API (0.5 =
    half price); None = unknown, so batch calls are reported with unknown cost."""
    known: bool = True
    """False for a model admitted with ``--allow-unknown-model``."""


class ResponseCache(Protocol):
    """Judge response cache keyed by provider, model, settings and the request SHA-256.

    Implementations: in-memory (``judges.cache``) and the database table (``store``)."""

    async def get(self, key: str) -> Verdict | None: ...

    async def put(self, key: str, verdict: Verdict) -> None: ...
