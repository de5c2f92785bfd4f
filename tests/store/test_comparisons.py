"""Comparisons: requested once per slot, verdicts stored once, failures, usage, resume."""

from __future__ import annotations

import asyncio

import pytest

from cjgrade.errors import InputError, StorageError
from cjgrade.judges.base import Usage, Verdict, Winner
from cjgrade.judges.cost import sum_spend
from cjgrade.store import (
    NewComparison,
    NewEssay,
    NotFound,
    Store,
    claim_comparisons,
    count_comparisons,
    create_batch,
    list_batch_essays,
    list_comparisons,
    record_failure,
    record_verdict,
    record_verdicts,
    request_comparisons,
    update_essay_estimates,
)
from cjgrade.store.batch_progress import batch_progress

PAIRS = [NewComparison(0, "e0", "e1", "a" * 64), NewComparison(1, "e2", "e3", "b" * 64)]


def _verdict(sha: str, p_a: float = 0.8, cost: float | None = 0.001) -> Verdict:
    return Verdict(
        winner=Winner.A if p_a >= 0.5 else Winner.B,
        p_a=p_a,
        justification="A argues better.",
        provider="sim",
        model="bt",
        request_sha256=sha,
        usage=Usage(input_tokens=100, output_tokens=20, cache_read_tokens=50, cache_write_tokens=5),
        confidence=4.0,
        cost_usd=cost,
        latency_s=0.2,
        raw_response='{"winner": "A"}',
        flags=("cached",),
    )


async def _batch(store: Store) -> str:
    async with store.transaction() as s:
        batch = await create_batch(s, [NewEssay(f"e{i}", text=f"Essay {i}") for i in range(4)])
    return batch.id


async def test_request_is_idempotent(store: Store) -> None:
    """Requesting the same round twice (as after a crash) creates each slot once."""
    bid = await _batch(store)
    async with store.transaction() as s:
        first = await request_comparisons(s, bid, 1, PAIRS)
    async with store.transaction() as s:
        second = await request_comparisons(s, bid, 1, PAIRS)
        counts = await count_comparisons(s, bid)
    assert [c.id for c in first] == [c.id for c in second]
    assert counts == {"pending": 2, "succeeded": 0, "failed": 0}
    assert first[0].essay_a == "e0" and first[0].request_sha256 == "a" * 64


async def test_concurrent_requests_create_each_slot_once(store: Store) -> None:
    """Two processes requesting the same round at once end up with one row per slot."""
    bid = await _batch(store)

    async def request() -> list[int]:
        async with store.transaction() as s:
            return [c.id for c in await request_comparisons(s, bid, 1, PAIRS)]

    first, second = await asyncio.gather(request(), request())
    assert first == second and len(first) == 2


async def test_conflicting_slot_refused(store: Store) -> None:
    """A slot already holding another pair is not silently replaced."""
    bid = await _batch(store)
    async with store.transaction() as s:
        await request_comparisons(s, bid, 1, PAIRS)
    with pytest.raises(StorageError, match="slot 0 already holds e0 vs e1"):
        async with store.transaction() as s:
            await request_comparisons(s, bid, 1, [NewComparison(0, "e1", "e0")])


@pytest.mark.parametrize(
    ("pairs", "error"),
    [
        ([NewComparison(0, "e0", "e0")], InputError),
        ([NewComparison(0, "e0", "e1"), NewComparison(0, "e2", "e3")], InputError),
        ([NewComparison(0, "e0", "nobody")], InputError),
    ],
)
async def test_bad_pairs(store: Store, pairs: list[NewComparison], error: type[Exception]) -> None:
    """Self-pairs, duplicate slots and essays outside the batch are refused."""
    bid = await _batch(store)
    with pytest.raises(error):
        async with store.transaction() as s:
            await request_comparisons(s, bid, 1, pairs)
    async with store.transaction() as s:
        assert await list_comparisons(s, bid) == []


async def test_verdict_stored_once(store: Store) -> None:
    """A verdict delivered twice is stored once; the second delivery changes nothing."""
    bid = await _batch(store)
    async with store.transaction() as s:
        c = (await request_comparisons(s, bid, 1, PAIRS))[0]
    async with store.transaction() as s:
        assert await record_verdict(s, c.id, _verdict("a" * 64, 0.8))
    async with store.transaction() as s:
        assert not await record_verdict(s, c.id, _verdict("a" * 64, 0.1))
        stored = (await list_comparisons(s, bid, status="succeeded"))[0]
    assert (stored.winner, stored.p_a, stored.flags) == ("A", 0.8, ("cached",))
    assert (stored.input_tokens, stored.cache_read_tokens, stored.cost_usd) == (100, 50, 0.001)
    assert stored.completed_at is not None and stored.raw_response == '{"winner": "A"}'


async def test_concurrent_duplicate_verdicts(store: Store) -> None:
    """Two transactions racing to store a verdict for one comparison: exactly one wins."""
    bid = await _batch(store)
    async with store.transaction() as s:
        c = (await request_comparisons(s, bid, 1, PAIRS))[0]

    async def deliver(p_a: float) -> bool:
        async with store.transaction() as s:
            return await record_verdict(s, c.id, _verdict("a" * 64, p_a))

    results = await asyncio.gather(deliver(0.9), deliver(0.2))
    assert sorted(results) == [False, True]
    async with store.transaction() as s:
        assert (await count_comparisons(s, bid))["succeeded"] == 1


async def test_stale_callback_and_bad_p(store: Store) -> None:
    """A verdict for another request hash or with p_a outside [0,1] is refused."""
    bid = await _batch(store)
    async with store.transaction() as s:
        c = (await request_comparisons(s, bid, 1, PAIRS))[0]
        with pytest.raises(StorageError, match="stale callback"):
            await record_verdict(s, c.id, _verdict("f" * 64))
        with pytest.raises(InputError, match="outside"):
            await record_verdict(s, c.id, _verdict("a" * 64, 1.5))
        with pytest.raises(NotFound):
            await record_verdict(s, 999_999, _verdict("a" * 64))


async def test_failures_retry_then_final(store: Store) -> None:
    """A non-final failure keeps the comparison pending; a final one fails it without winner."""
    bid = await _batch(store)
    async with store.transaction() as s:
        c = (await request_comparisons(s, bid, 1, PAIRS))[1]
        assert await record_failure(s, c.id, "rate_limited", "429", final=False)
        assert (await list_comparisons(s, bid, status="pending"))[1].error_code == "rate_limited"
        assert await record_failure(s, c.id, "output_invalid", "no winner", raw_response="??")
        assert not await record_failure(s, c.id, "x", "late")
        failed = (await list_comparisons(s, bid, status="failed"))[0]
    assert failed.winner is None and failed.error_reason == "no winner"


async def test_claims_and_redispatch(store: Store) -> None:
    """Claiming marks dispatch and counts attempts; only stale dispatches are claimed again."""
    bid = await _batch(store)
    async with store.transaction() as s:
        await request_comparisons(s, bid, 1, PAIRS)
        first = await claim_comparisons(s, bid, limit=1)
        second = await claim_comparisons(s, bid, limit=5)
        none_left = await claim_comparisons(s, bid, limit=5)
        stale = await claim_comparisons(s, bid, limit=5, redispatch_after_s=-1)
    assert [c.slot for c in first] == [0] and [c.slot for c in second] == [1]
    assert none_left == []
    assert sorted(c.attempts for c in stale) == [2, 2]


async def test_essay_counts_and_usage(store: Store) -> None:
    """Succeeded comparisons feed the per-essay counts and the usage totals; a verdict
    without a price makes the total unknown (the batch's progress sums the known part)."""
    bid = await _batch(store)
    async with store.transaction() as s:
        cs = await request_comparisons(s, bid, 1, PAIRS)
        await record_verdict(s, cs[0].id, _verdict("a" * 64, 0.75))
        await record_verdict(s, cs[1].id, _verdict("b" * 64, 0.0, cost=None))
        await update_essay_estimates(s, bid, {"e0": (1.5, 0.4)})
        essays = await list_batch_essays(s, bid)
        usage = await batch_progress(s, bid)
        rows = await list_comparisons(s, bid)
    by_id = {e.essay_id: e for e in essays}
    assert (by_id["e0"].theta, by_id["e0"].se, by_id["e0"].n_wins) == (1.5, 0.4, 0.75)
    assert by_id["e1"].n_wins == pytest.approx(0.25) and by_id["e3"].n_wins == 1.0
    assert all(e.n_comparisons == 1 for e in essays)
    assert usage.succeeded == 2 and sum(r.input_tokens or 0 for r in rows) == 200
    assert usage.cost_usd == pytest.approx(0.001) and usage.n_cost_unknown == 1
    assert [r.spend_usd for r in rows] == [pytest.approx(0.001), None]
    assert sum_spend(r.spend_usd for r in rows) is None


async def test_failure_stores_billed_spend_and_unknown_price(store: Store) -> None:
    """A failure's billed tokens, cost and attempts are stored with it; billed tokens with an
    unknown price count as an unknown cost (never 0); nothing billed leaves the usage NULL."""
    bid = await _batch(store)
    async with store.transaction() as s:
        cs = await request_comparisons(s, bid, 1, PAIRS)
        billed = Usage(input_tokens=900, output_tokens=30, cache_read_tokens=7,
                       cache_write_tokens=2)
        assert await record_failure(
            s, cs[0].id, "output_invalid", "not JSON", usage=billed, cost_usd=0.02, attempts=3
        )
        assert await record_failure(s, cs[1].id, "timeout", "no reply", usage=Usage(), attempts=2)
        known = await batch_progress(s, bid)
        rows = await list_comparisons(s, bid)
    assert (rows[0].input_tokens, rows[0].output_tokens, rows[0].cache_read_tokens) == (900, 30, 7)
    assert (rows[0].cache_write_tokens, rows[0].cost_usd, rows[0].attempts) == (2, 0.02, 3)
    assert rows[1].input_tokens is None and rows[1].cost_usd is None and rows[1].attempts == 2
    assert (known.failed, known.n_cost_unknown) == (2, 0)
    assert known.cost_usd == pytest.approx(0.02)
    assert [r.spend_usd for r in rows] == [pytest.approx(0.02), 0.0]  # nothing billed: 0

    other = await _batch(store)
    async with store.transaction() as s:
        c = (await request_comparisons(s, other, 1, PAIRS))[0]
        assert await record_failure(s, c.id, "output_invalid", "x", usage=billed, cost_usd=None)
        unknown = await batch_progress(s, other)
        (billed_row,) = await list_comparisons(s, other, status="failed")
        assert not await record_failure(s, c.id, "late", "y", usage=billed, cost_usd=1.0)
        (row,) = await list_comparisons(s, other, status="failed")
    assert unknown.n_cost_unknown == 1 and unknown.cost_usd == 0.0
    assert billed_row.input_tokens == 900 and billed_row.spend_usd is None
    assert row.cost_usd is None and row.error_code == "output_invalid"


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [({"attempts": -1}, "attempts"), ({"cost_usd": float("nan")}, "cost_usd"),
     ({"usage": Usage(input_tokens=-5)}, "negative")],
)
async def test_bad_billed_spend_refused(store: Store, kwargs: dict[str, object], text: str) -> None:
    """Impossible billed figures raise InputError and leave the comparison pending."""
    bid = await _batch(store)
    async with store.transaction() as s:
        c = (await request_comparisons(s, bid, 1, PAIRS))[0]
    with pytest.raises(InputError, match=text):
        async with store.transaction() as s:
            await record_failure(s, c.id, "x", "y", **kwargs)  # type: ignore[arg-type]
    async with store.transaction() as s:
        assert (await count_comparisons(s, bid))["pending"] == 2


async def test_concurrent_claimers_split_a_round(store: Store) -> None:
    """Four claimers racing over 60 pending comparisons each get at most their limit, and no
    comparison is claimed twice; together they claim all of them, each exactly once."""
    async with store.transaction() as s:
        batch = await create_batch(s, [NewEssay(f"e{i}", text=f"Essay {i}") for i in range(12)])
        pairs = [NewComparison(k, f"e{a}", f"e{b}")
                 for k, (a, b) in enumerate((a, b) for a in range(12) for b in range(a + 1, 12))]
        await request_comparisons(s, batch.id, 1, pairs[:60])

    async def claim() -> list[int]:
        got: list[int] = []
        while True:
            async with store.transaction() as s:
                rows = await claim_comparisons(s, batch.id, limit=7)
            if not rows:
                return got
            assert len(rows) <= 7
            got += [r.id for r in rows]

    claims = await asyncio.gather(*(claim() for _ in range(4)))
    every = [cid for got in claims for cid in got]
    assert len(every) == len(set(every)) == 60
    async with store.transaction() as s:
        assert {c.attempts for c in await list_comparisons(s, batch.id)} == {1}


async def test_bulk_inserts_refresh_stale_planner_statistics(store: Store) -> None:
    """On PostgreSQL a round that leaves the planner's row count far behind the table is
    followed by ANALYZE (fresh tables taken for empty made the round's claim scan the whole
    table per row); a small insert into a table the planner knows is not; SQLite has nothing
    to refresh."""
    from sqlalchemy import text

    from cjgrade.store._sql import STALE_STATISTICS_ROWS

    async with store.transaction() as s:
        batch = await create_batch(s, [NewEssay(f"e{i}", text=f"Essay {i}") for i in range(40)])
        if s.get_bind().dialect.name == "postgresql":
            # The test database serves the whole session: start from a known planner count.
            await s.execute(text("ANALYZE comparisons"))
    big = [NewComparison(k, f"e{k % 40}", f"e{(k + 1 + k // 40) % 40}")
           for k in range(STALE_STATISTICS_ROWS + 100)]
    big = [p for p in big if p.essay_a != p.essay_b]
    async with store.transaction() as s:
        await request_comparisons(s, batch.id, 1, big)
        if s.get_bind().dialect.name != "postgresql":
            return

    async def planned() -> float:
        async with store.transaction() as s:
            value = await s.scalar(text(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass('comparisons')"
            ))
        return float(value)

    assert await planned() == len(big)
    async with store.transaction() as s:
        await request_comparisons(s, batch.id, 2, PAIRS_40)
    assert await planned() == len(big)  # two more rows: the count is not stale


PAIRS_40 = [NewComparison(0, "e0", "e1"), NewComparison(1, "e2", "e3")]


async def test_a_group_of_verdicts_is_stored_as_one_by_one(store: Store) -> None:
    """record_verdicts stores a group like record_verdict would one at a time: the first
    verdict for a pending comparison is stored, a second one in the same group and one for an
    already-final comparison are not; every column is written; a stale verdict anywhere in the
    group stores nothing."""
    bid = await _batch(store)
    pairs = [*PAIRS, NewComparison(2, "e0", "e3", "c" * 64)]
    async with store.transaction() as s:
        rows = await request_comparisons(s, bid, 1, pairs)
        await record_verdict(s, rows[2].id, _verdict("c" * 64, p_a=0.1))
    a, b, done = (r.id for r in rows)
    async with store.transaction() as s:
        with pytest.raises(StorageError, match="stale callback"):
            await record_verdicts(s, [(a, _verdict("a" * 64)), (b, _verdict("z" * 64))])
    async with store.transaction() as s:
        assert (await count_comparisons(s, bid))["succeeded"] == 1  # nothing of the group
    group = [(a, _verdict("a" * 64, p_a=0.7)), (a, _verdict("a" * 64, p_a=0.2)),
             (done, _verdict("c" * 64, p_a=0.9)), (b, _verdict("b" * 64, p_a=0.4))]
    async with store.transaction() as s:
        assert await record_verdicts(s, group) == [True, False, False, True]
    async with store.transaction() as s:
        stored = {c.id: c for c in await list_comparisons(s, bid)}
    assert (stored[a].p_a, stored[b].p_a, stored[done].p_a) == (0.7, 0.4, 0.1)
    first = stored[a]
    assert (first.status, first.winner, first.confidence, first.input_tokens,
            first.cache_write_tokens, first.cost_usd, first.latency_s, first.flags) == (
        "succeeded", "A", 4.0, 100, 5, 0.001, 0.2, ("cached",))
    assert first.completed_at is not None and first.raw_response == '{"winner": "A"}'
    with pytest.raises(NotFound):
        async with store.transaction() as s:
            await record_verdicts(s, [(10_000, _verdict("a" * 64))])


async def test_concurrent_groups_store_a_verdict_once(store: Store) -> None:
    """Two transactions storing the same verdicts at once (a duplicate delivery handled by two
    tasks): each comparison is stored by exactly one of them."""
    bid = await _batch(store)
    async with store.transaction() as s:
        rows = await request_comparisons(s, bid, 1, PAIRS)
    group = [(r.id, _verdict(r.request_sha256 or "")) for r in rows]

    async def store_group() -> list[bool]:
        async with store.transaction() as s:
            return await record_verdicts(s, group)

    first, second = await asyncio.gather(store_group(), store_group())
    assert [a + b for a, b in zip(first, second, strict=True)] == [1, 1]
