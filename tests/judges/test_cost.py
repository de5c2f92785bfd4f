"""Cost per token class from manifest prices, and the ledger's totals."""

from __future__ import annotations

import pytest

from cjgrade.judges.base import ModelInfo, Usage, Verdict, Winner
from cjgrade.judges.cost import CostLedger, compute_cost
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
    """A discount multiplies the whole cost (0.5 for provider batch APIs)."""
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
