"""Judge response cache (DbResponseCache) and the transactional outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cjgrade.errors import InputError
from cjgrade.judges.base import JudgeSettings, ResponseCache, Usage, Verdict, Winner
from cjgrade.store import (
    DbResponseCache,
    Store,
    add_event,
    claim_unpublished,
    list_unpublished,
    make_cache_key,
    mark_failed,
    mark_published,
)
from cjgrade.store.models import JudgeCacheEntry

VERDICT = Verdict(
    winner=Winner.B,
    p_a=0.2,
    justification="B is clearer.",
    provider="openai",
    model="gpt-5-mini",
    request_sha256="c" * 64,
    usage=Usage(10, 2, 3, 4),
    confidence=None,
    cost_usd=None,
    latency_s=1.25,
    raw_response="{}",
    flags=("injection_suspected:A",),
)


def test_cache_key_depends_on_every_part() -> None:
    """Changing provider, model, any setting or the request hash changes the key."""
    base = make_cache_key("openai", "m", JudgeSettings(), "c" * 64)
    assert base == make_cache_key("openai", "m", JudgeSettings(), "c" * 64)
    others = {
        make_cache_key("anthropic", "m", JudgeSettings(), "c" * 64),
        make_cache_key("openai", "m2", JudgeSettings(), "c" * 64),
        make_cache_key("openai", "m", JudgeSettings(temperature=0.5), "c" * 64),
        make_cache_key("openai", "m", JudgeSettings(reasoning_effort="low"), "c" * 64),
        make_cache_key("openai", "m", JudgeSettings(), "d" * 64),
    }
    assert base not in others and len(others) == 5


async def test_cache_round_trip_first_write_wins(store: Store) -> None:
    """A cached verdict comes back equal; a second put for the key does not overwrite it."""
    cache: ResponseCache = DbResponseCache(store)
    key = make_cache_key("openai", "gpt-5-mini", JudgeSettings(), "c" * 64)
    assert await cache.get(key) is None
    await cache.put(key, VERDICT)
    await cache.put(
        key,
        Verdict(
            winner=Winner.A,
            p_a=1.0,
            justification="x",
            provider="openai",
            model="gpt-5-mini",
            request_sha256="c" * 64,
        ),
    )
    assert await cache.get(key) == VERDICT
    assert await cache.get(key) == VERDICT
    async with store.transaction() as s:
        assert (await s.scalars(select(JudgeCacheEntry.hits))).one() == 2


async def test_outbox_publish_cycle(store: Store) -> None:
    """Events queue in order, a relay claims and marks them, failures are counted."""
    async with store.transaction() as s:
        e1 = await add_event(s, "cjgrade.batch.completed.v1", {"batch": "b1"}, key="b1")
        e2 = await add_event(s, "cjgrade.batch.completed.v1", {"batch": "b2"})
        with pytest.raises(InputError):
            await add_event(s, "t", {"x": float("nan")})
    async with store.transaction() as s:
        claimed = await claim_unpublished(s, limit=10)
        assert [e.id for e in claimed] == [e1, e2] and claimed[0].key == "b1"
        await mark_failed(s, e2, "broker down")
        assert await mark_published(s, [e1]) == 1
        assert await mark_published(s, [e1]) == 0
    async with store.transaction() as s:
        left = await claim_unpublished(s)
        assert [(e.id, e.attempts, e.last_error) for e in left] == [(e2, 1, "broker down")]
        assert await claim_unpublished(s, max_attempts=1) == []


async def test_outbox_rolls_back_with_state(store: Store) -> None:
    """An event added in a transaction that fails is not published."""
    with pytest.raises(RuntimeError):
        async with store.transaction() as s:
            await add_event(s, "t", {"a": 1})
            raise RuntimeError("state change failed")
    async with store.transaction() as s:
        assert await claim_unpublished(s) == []


async def test_list_unpublished_filters(store: Store) -> None:
    """list_unpublished filters by ids, key and topic and skips published events."""
    async with store.transaction() as s:
        a = await add_event(s, "t1", {"n": 1}, key="k1")
        b = await add_event(s, "t2", {"n": 2}, key="k2")
        c = await add_event(s, "t1", {"n": 3}, key="k1")
        await mark_published(s, [c])
        assert [e.id for e in await list_unpublished(s)] == [a, b]
        assert [e.id for e in await list_unpublished(s, key="k1")] == [a]
        assert [e.id for e in await list_unpublished(s, topic="t2")] == [b]
        assert [e.id for e in await list_unpublished(s, ids=[b, c])] == [b]
