"""Cost per token class from manifest prices, and the ledger's totals."""

from __future__ import annotations

import pytest

from cjgrade.judges.base import ModelInfo, Usage, Verdict, Winner
from cjgrade.judges.cost import CostLedger, billed_spend, compute_cost, price_verdict
from cjgrade.judges.manifest import load_manifest

HAIKU = load_manifest().resolve("anthropic/claude-haiku-4-5-20251001")


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(input_tokens=1_000_000), 1.0),
        (Usage(output_tokens=1_000_000), 5.0),
        (Usage(cache_read_tokens=1_000_000), 0.1),
        (Usage(cache_write_tokens=1_000_000), 1.25),
        (Usage(1200, 80, 3000, 0), (1200 * 1.0 + 80 * 5.0 + 3000 * 0.1) / 1e6),
        (Usage(), 0.0),
    ],
)
def test_cost_per_token_class(usage: Usage, expected: float) -> None:
    """Each token class is billed at its own manifest price."""
    assert compute_cost(usage, HAIKU) == pytest.approx(expected)


def test_cache_reads_are_cheaper_than_fresh_input() -> None:
    """The same prompt costs less when read from the cache."""
    fresh = compute_cost(Usage(input_tokens=5000), HAIKU)
    cached = compute_cost(Usage(cache_read_tokens=5000), HAIKU)
    assert fresh is not None and cached is not None and cached < fresh


def test_unknown_price_gives_unknown_cost_only_when_used() -> None:
    """A token class without a price makes the cost None, unless no such tokens were used."""
    partial = ModelInfo(provider="x", model="y", input_per_mtok=2.0, output_per_mtok=4.0)
    assert compute_cost(Usage(input_tokens=10, cache_read_tokens=5), partial) is None
    assert compute_cost(Usage(input_tokens=1_000_000), partial) == pytest.approx(2.0)
    gpt51 = load_manifest().resolve("openai/gpt-5.1")
    assert compute_cost(Usage(input_tokens=1, output_tokens=1), gpt51) is None
    assert compute_cost(Usage(), gpt51) is None  # even with no tokens reported
    unknown = ModelInfo(provider="x", model="z", input_per_mtok=1.0, output_per_mtok=1.0,
                        known=False)
    assert compute_cost(Usage(input_tokens=5), unknown) is None


def test_batch_discount() -> None:
    """An explicit discount multiplies the whole cost."""
    assert compute_cost(Usage(input_tokens=1_000_000), HAIKU, discount=0.5) == pytest.approx(0.5)


def _verdict(model: str, usage: Usage, cost: float | None) -> Verdict:
    return Verdict(Winner.A, 1.0, "", "p", model, "0", usage=usage, cost_usd=cost)


def test_ledger_totals_per_model_and_unknown_costs() -> None:
    """The ledger sums tokens and cost per provider/model; one unknown cost makes the total
    unknown (with the known part still reported)."""
    ledger = CostLedger()
    ledger.record(_verdict("a", Usage(10, 1, 0, 0), 0.5))
    ledger.record(_verdict("a", Usage(20, 2, 5, 0), 0.25))
    ledger.record(_verdict("a", Usage(), 0.0), cached=True)
    ledger.record_failure("p/a")
    assert ledger.total_cost() == pytest.approx(0.75)
    row = ledger.as_dict()["p/a"]
    assert row["calls"] == 2 and row["cache_hits"] == 1 and row["failures"] == 1
    assert row["input_tokens"] == 30 and row["cache_read_tokens"] == 5
    ledger.record(_verdict("b", Usage(1, 1, 0, 0), None))
    assert ledger.total_cost() is None
    assert ledger.as_dict()["p/b"]["cost_usd"] is None
    assert ledger.as_dict()["p/a"]["cost_usd"] == pytest.approx(0.75)


def test_batch_price_factor_is_manifest_data() -> None:
    """Batch calls cost the manifest's batch_price_factor (0.5 for Anthropic and OpenAI) times
    the list price; a provider with no batch price (OpenRouter) gives an unknown cost."""
    manifest = load_manifest()
    usage = Usage(1200, 80, 3000, 500)
    for name in ("anthropic/claude-haiku-4-5-20251001", "openai/gpt-5-mini"):
        info = manifest.resolve(name)
        assert info.batch_price_factor == 0.5
        assert compute_cost(usage, info, batch=True) == pytest.approx(
            0.5 * compute_cost(usage, info))  # type: ignore[operator]
    openrouter = next(m for m in manifest if m.provider == "openrouter")
    assert openrouter.batch_price_factor is None
    plain = Usage(input_tokens=1200, output_tokens=80)
    assert compute_cost(plain, openrouter, batch=True) is None
    assert compute_cost(plain, openrouter) is not None


def test_price_verdict_uses_the_batch_rate_only_for_batch_verdicts() -> None:
    """A verdict flagged batch_api is priced at the batch rate, any other at the list price."""
    verdict = Verdict(Winner.A, 0.7, "x", "anthropic", HAIKU.model, "h",
                      usage=Usage(input_tokens=1_000_000))
    assert price_verdict(verdict, HAIKU) == pytest.approx(1.0)
    batch = Verdict(Winner.A, 0.7, "x", "anthropic", HAIKU.model, "h",
                    usage=Usage(input_tokens=1_000_000), flags=("batch_api",))
    assert price_verdict(batch, HAIKU) == pytest.approx(0.5)


def test_billed_spend_of_an_error_outside_the_runtime_is_zero() -> None:
    """An error that never passed through a runtime reports no spend and no attempts."""
    spend = billed_spend(ValueError("x"))
    assert spend.cost_usd == 0.0 and spend.attempts == 0 and spend.usage == Usage()
