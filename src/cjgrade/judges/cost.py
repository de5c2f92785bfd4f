"""Cost of judge calls, computed from manifest prices per token class.

A price the manifest does not know makes the cost unknown (``None``) as soon as a token of that
class was used: an unknown cost is never reported as 0. Cache reads are billed at the cheaper
cache-read price and cache writes at the cache-write price. Calls made through a provider batch
API (verdicts flagged ``batch_api``) are billed at the manifest's ``batch_price_factor``.

Invalid replies are billed by the provider too. The runtime attaches what a failed comparison
cost to the error it finally raises (:func:`billed_spend` reads it), and adds the cost of
invalid replies that preceded a verdict to that verdict, so summing verdicts and failures gives
the real spend.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cjgrade.errors import JudgeError
from cjgrade.judges.base import ModelInfo, Usage, Verdict

__all__ = [
    "BATCH_FLAG",
    "DEFAULT_MAX_TOKENS_PER_CALL",
    "BilledSpend",
    "CostLedger",
    "LedgerEntry",
    "add_cost",
    "add_usage",
    "billed_spend",
    "compute_cost",
    "max_tokens_per_call",
    "price_verdict",
    "spend_of",
    "sum_spend",
    "usage_problem",
]

_PER_TOKEN = 1e-6  # prices are per million tokens

BATCH_FLAG = "batch_api"
"""Flag on every verdict obtained through a provider batch API (priced at the batch rate)."""


DEFAULT_MAX_TOKENS_PER_CALL = 10_000_000
"""Most tokens one call can plausibly use when the manifest does not know the model's context
window and output limit (the largest context windows are about 2 million tokens)."""


def max_tokens_per_call(info: ModelInfo) -> int:
    """Most tokens one call to this model can use: its context window plus its output limit
    when the manifest knows both, else :data:`DEFAULT_MAX_TOKENS_PER_CALL`."""
    if info.context_window and info.max_output_tokens:
        return info.context_window + info.max_output_tokens
    return DEFAULT_MAX_TOKENS_PER_CALL


def usage_problem(usage: Usage, info: ModelInfo) -> str | None:
    """Why one call's usage report cannot be priced, or None when it can.

    A token count must be a non-negative integer, and the call's total at most
    :func:`max_tokens_per_call`: a negative count would lower the bill, and a claim of 10**15
    tokens is a server fault, not a price to report.
    """
    counts = {name: getattr(usage, name) for name in
              ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name}={value!r:.40} is not a token count"
        if value < 0:
            return f"{name}={value} is negative"
    total = sum(counts.values())
    limit = max_tokens_per_call(info)
    if total > limit:
        return (f"{total:,} tokens in one call, more than the {limit:,} "
                f"{info.provider}/{info.model} can use")
    return None


def compute_cost(usage: Usage, info: ModelInfo, *, discount: float = 1.0,
                 batch: bool = False) -> float | None:
    """USD cost of one call.

    Parameters
    ----------
    usage : token counts of the call.
    info : the model's manifest entry (prices per million tokens).
    discount : an extra multiplier on the whole cost (1 = list price).
    batch : the call went through the provider's batch API: multiply by the manifest's
        ``batch_price_factor`` (0.5 for Anthropic and OpenAI).

    Returns
    -------
    float or None
        None for a model outside the manifest, a model whose input or output price is unknown,
        when a cache token class that was used has no known price, or for a batch call when
        the provider's batch price factor is unknown.
    """
    if not info.known or info.input_per_mtok is None or info.output_per_mtok is None:
        return None
    if batch:
        if info.batch_price_factor is None:
            return None
        discount *= info.batch_price_factor
    pairs = (
        (usage.input_tokens, info.input_per_mtok),
        (usage.output_tokens, info.output_per_mtok),
        (usage.cache_read_tokens, info.cache_read_per_mtok),
        (usage.cache_write_tokens, info.cache_write_per_mtok),
    )
    total = 0.0
    for tokens, price in pairs:
        if tokens == 0:
            continue
        if price is None:
            return None
        total += tokens * price * _PER_TOKEN
    return total * discount


def price_verdict(verdict: Verdict, info: ModelInfo) -> float | None:
    """The cost of a verdict's usage, at the batch rate when it is flagged ``batch_api``."""
    return compute_cost(verdict.usage, info, batch=BATCH_FLAG in verdict.flags)


def add_usage(a: Usage, b: Usage) -> Usage:
    """Token counts of two calls together."""
    return Usage(a.input_tokens + b.input_tokens, a.output_tokens + b.output_tokens,
                 a.cache_read_tokens + b.cache_read_tokens,
                 a.cache_write_tokens + b.cache_write_tokens)


def add_cost(a: float | None, b: float | None) -> float | None:
    """Sum of two costs; unknown if either is unknown."""
    return None if a is None or b is None else a + b


def spend_of(cost_usd: float | None, *, billed: bool) -> float | None:
    """The unknown-cost rule, the one place it is coded: what one comparison cost.

    Its cost when known; 0 when nothing was billed (a failure before any billed reply, a
    comparison still pending); None, unknown, when the provider billed it at a price nobody
    knows (a verdict without a price, a billed invalid reply without one). An unknown cost is
    never counted as 0: a total with one unknown spend is unknown (:func:`sum_spend`).
    """
    if cost_usd is not None:
        return float(cost_usd)
    return None if billed else 0.0


def sum_spend(spends: Iterable[float | None]) -> float | None:
    """Total of :func:`spend_of` values: None as soon as one of them is unknown."""
    total: float | None = 0.0
    for spend in spends:
        total = add_cost(total, spend)
        if total is None:
            return None
    return total


@dataclass(frozen=True)
class BilledSpend:
    """What a comparison that ended in an error cost: invalid replies the provider billed."""

    usage: Usage = field(default_factory=Usage)
    """Tokens of every billed invalid reply across the attempts."""
    cost_usd: float | None = 0.0
    """Their cost (None when a price is unknown). Timed-out attempts are not included: the
    provider reports no usage for them."""
    attempts: int = 0
    """Attempts made (0 when the error did not come from the runtime)."""


def billed_spend(error: BaseException) -> BilledSpend:
    """The spend the runtime attached to a final :class:`~cjgrade.errors.JudgeError` (zero
    usage and cost when nothing was billed or the error did not pass through a runtime)."""
    spend = error.billed if isinstance(error, JudgeError) else None
    return spend if spend is not None else BilledSpend()


@dataclass
class LedgerEntry:
    """Running totals for one ``provider/model``."""

    calls: int = 0
    """Verdicts delivered by the provider (cache hits excluded)."""
    cache_hits: int = 0
    """Verdicts served from the response cache (cost 0)."""
    failures: int = 0
    """Calls that ended in an error after all retries."""
    billed_failures: int = 0
    """Provider replies that were billed but invalid (their tokens and cost are included)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    """Sum of the known costs."""
    unknown_cost_calls: int = 0
    """Calls whose cost is unknown; when > 0 the total is a lower bound."""

    @property
    def cost_known(self) -> bool:
        return self.unknown_cost_calls == 0


@dataclass
class CostLedger:
    """Totals per ``provider/model`` across every call made through a runtime."""

    entries: dict[str, LedgerEntry] = field(default_factory=dict)

    def _entry(self, name: str) -> LedgerEntry:
        entry = self.entries.get(name)
        if entry is None:
            entry = self.entries[name] = LedgerEntry()
        return entry

    def record(self, verdict: Verdict, *, cached: bool = False, name: str | None = None) -> None:
        """Add one verdict's usage and cost (under ``name``, default ``provider/model``)."""
        entry = self._entry(name or f"{verdict.provider}/{verdict.model}")
        if cached:
            entry.cache_hits += 1
            return
        entry.calls += 1
        self._add_usage(entry, verdict.usage, verdict.cost_usd)

    def record_billed_failure(self, name: str, usage: Usage, cost: float | None) -> None:
        """Add the tokens and cost of an invalid reply the provider billed anyway."""
        entry = self._entry(name)
        entry.billed_failures += 1
        self._add_usage(entry, usage, cost)

    def _add_usage(self, entry: LedgerEntry, usage: Usage, cost: float | None) -> None:
        entry.input_tokens += usage.input_tokens
        entry.output_tokens += usage.output_tokens
        entry.cache_read_tokens += usage.cache_read_tokens
        entry.cache_write_tokens += usage.cache_write_tokens
        if cost is None:
            entry.unknown_cost_calls += 1
        else:
            entry.cost_usd += cost

    def record_failure(self, name: str) -> None:
        """Count a call that failed after all retries."""
        self._entry(name).failures += 1

    def total_cost(self) -> float | None:
        """Sum over all models, or None when any call had an unknown cost."""
        if any(not e.cost_known for e in self.entries.values()):
            return None
        return sum(e.cost_usd for e in self.entries.values())

    def as_dict(self) -> dict[str, dict[str, object]]:
        """JSON-ready totals per ``provider/model`` (``cost_usd`` None when not fully known)."""
        out: dict[str, dict[str, object]] = {}
        for name, e in sorted(self.entries.items()):
            out[name] = {
                "calls": e.calls,
                "cache_hits": e.cache_hits,
                "failures": e.failures,
                "billed_failures": e.billed_failures,
                "input_tokens": e.input_tokens,
                "output_tokens": e.output_tokens,
                "cache_read_tokens": e.cache_read_tokens,
                "cache_write_tokens": e.cache_write_tokens,
                "cost_usd": e.cost_usd if e.cost_known else None,
                "known_cost_usd": e.cost_usd,
                "unknown_cost_calls": e.unknown_cost_calls,
            }
        return out
