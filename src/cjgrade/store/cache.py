"""The judge response cache in the database: :class:`DbResponseCache` implements
:class:`cjgrade.judges.base.ResponseCache`.

A repeated request (same provider, model, settings and request hash) is answered from here, so
re-dispatching a comparison after a crash does not pay the provider twice. Entries are written
insert-if-absent: the first verdict for a key wins and is never overwritten. Keys come from
:func:`cjgrade.judges.cache.make_cache_key` (re-exported here), the one definition shared with
the in-memory cache.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select, update

from cjgrade.judges.base import Usage, Verdict, Winner
from cjgrade.judges.cache import make_cache_key
from cjgrade.store._sql import insert_if_absent
from cjgrade.store.database import Store
from cjgrade.store.models import JudgeCacheEntry, utcnow

__all__ = ["DbResponseCache", "make_cache_key", "verdict_from_json", "verdict_to_json"]


def verdict_to_json(verdict: Verdict) -> dict[str, Any]:
    """A verdict as plain JSON (winner as "A"/"B", flags as a list)."""
    data = asdict(verdict)
    data["winner"] = verdict.winner.value
    data["flags"] = list(verdict.flags)
    return data


def verdict_from_json(data: dict[str, Any]) -> Verdict:
    """Inverse of :func:`verdict_to_json`."""
    fields = dict(data)
    fields["winner"] = Winner(fields["winner"])
    fields["usage"] = Usage(**fields.get("usage", {}))
    fields["flags"] = tuple(fields.get("flags", ()))
    return Verdict(**fields)


class DbResponseCache:
    """Database-backed :class:`~cjgrade.judges.base.ResponseCache` (one short transaction per
    call, so it can be shared by concurrent judge calls)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, key: str) -> Verdict | None:
        async with self._store.transaction() as session:
            data = await session.scalar(
                select(JudgeCacheEntry.verdict).where(JudgeCacheEntry.key == key)
            )
            if data is None:
                return None
            await session.execute(
                update(JudgeCacheEntry)
                .where(JudgeCacheEntry.key == key)
                .values(hits=JudgeCacheEntry.hits + 1)
            )
        return verdict_from_json(data)

    async def put(self, key: str, verdict: Verdict) -> None:
        async with self._store.transaction() as session:
            await insert_if_absent(
                session,
                JudgeCacheEntry,
                {
                    "key": key,
                    "provider": verdict.provider,
                    "model": verdict.model,
                    "verdict": verdict_to_json(verdict),
                    "hits": 0,
                    "created_at": utcnow(),
                },
                conflict=["key"],
            )
