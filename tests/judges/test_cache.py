"""Cache keys and the in-memory response cache."""

from __future__ import annotations

from dataclasses import replace

from cjgrade.judges.base import JudgeRequest, JudgeSettings, Verdict, Winner
from cjgrade.judges.cache import MemoryResponseCache, fingerprint_request, make_cache_key

REQUEST = JudgeRequest("s", "p", "i", "r", "essay a", "essay b")


def test_fingerprint_is_stable_and_sensitive_to_every_field() -> None:
    """Same request, same hash; any field changed (texts, settings), a different hash."""
    base = fingerprint_request(REQUEST)
    assert base == fingerprint_request(replace(REQUEST))
    assert len(base) == 64
    variants = [
        replace(REQUEST, essay_a="essay A"),
        replace(REQUEST, essay_a=REQUEST.essay_b, essay_b=REQUEST.essay_a),
        replace(REQUEST, rubric="r2"),
        replace(REQUEST, settings=JudgeSettings(max_tokens=10)),
    ]
    assert len({base, *(fingerprint_request(v) for v in variants)}) == 5


def test_cache_key_covers_provider_model_settings_request_namespace() -> None:
    """Changing any component of the key changes the key."""
    settings = JudgeSettings()
    key = make_cache_key("openai", "m", settings, "abc")
    others = [
        make_cache_key("anthropic", "m", settings, "abc"),
        make_cache_key("openai", "m2", settings, "abc"),
        make_cache_key("openai", "m", JudgeSettings(temperature=0.5), "abc"),
        make_cache_key("openai", "m", settings, "abd"),
        make_cache_key("openai", "m", settings, "abc", namespace="http://localhost:8000/v1"),
    ]
    assert key == make_cache_key("openai", "m", settings, "abc")
    assert len({key, *others}) == 6


async def test_memory_cache_round_trip_and_lru_eviction() -> None:
    """Stored verdicts come back; beyond max_entries the least recently used goes first."""
    cache = MemoryResponseCache(max_entries=2)
    v = Verdict(Winner.B, 0.0, "j", "p", "m", "h")
    await cache.put("k1", v)
    await cache.put("k2", v)
    assert await cache.get("k1") == v  # k1 now most recent
    await cache.put("k3", v)
    assert await cache.get("k2") is None
    assert await cache.get("k1") == v and await cache.get("k3") == v
    assert (cache.hits, cache.misses, len(cache)) == (3, 1, 2)
