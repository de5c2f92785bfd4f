"""One active orchestrator per database: a PostgreSQL advisory lock.

The orchestrator reads the results topic as its sole reader (every partition, no consumer
group membership, so a restart reads at once). Two of them in one consumer group split that
topic, so each saw only part of its own batches' results and waited for re-dispatches (rounds
about 12x slower, silently); two sole readers would each read every request and result and
do the work twice.
So a ``cjgrade serve`` runs its orchestrator only while it holds this lock;
a second instance stands by, says so in its log, its metrics and ``/readyz``, and takes over
when the first one stops or dies (PostgreSQL frees the lock with the holder's connection).

The lock lives on a connection of its own, checked every ``check_s``: if that connection is
lost, so is the lock, and :meth:`OrchestratorLock.watch` raises so the orchestrator stops before
another instance can take over. On SQLite (one machine, one file) there is nothing to share:
the lock is always granted.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import structlog
from sqlalchemy import text

from cjgrade.errors import StorageError
from cjgrade.store import Store

__all__ = ["LOCK_KEY", "OrchestratorLock"]

log = structlog.get_logger("cjgrade.orchestrator")

LOCK_KEY = 0x636A_6772_6164_6501 & 0x7FFF_FFFF_FFFF_FFFF
"""The advisory lock id ("cjgrade" + 1), a signed 64-bit integer."""

_APP_NAME = "cjgrade-orchestrator"


class OrchestratorLock:
    """Take (``try_acquire``), keep (``watch``) and give back (``release``) the lock."""

    def __init__(self, store: Store, *, check_s: float = 5.0) -> None:
        self.store = store
        self.check_s = check_s
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self._conn: Any = None
        self._granted = False

    @property
    def held(self) -> bool:
        return self._conn is not None or self._granted

    async def try_acquire(self) -> bool:
        """True when this process holds the lock now (it keeps it until ``release``)."""
        if self.store.dialect != "postgresql":
            self._granted = True
            return True
        if self._conn is not None:
            return True
        conn = await self.store.engine.connect()
        try:
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"),
                                         {"k": LOCK_KEY}))
            if got:
                await conn.execute(text("SELECT set_config('application_name', :n, false)"),
                                   {"n": f"{_APP_NAME} {self.identity}"[:63]})
            await conn.commit()  # the session-level lock outlives the transaction
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def holder(self) -> str:
        """Who holds the lock (``host:pid`` of its orchestrator), for messages."""
        if self.store.dialect != "postgresql":
            return "?"
        async with self.store.engine.connect() as conn:
            name = await conn.scalar(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k"), {"k": LOCK_KEY})
        return str(name).removeprefix(_APP_NAME).strip() if name else "another process"

    async def watch(self) -> None:
        """Return never while the lock is held; raise StorageError when its connection is
        lost (then the lock is gone too)."""
        while True:
            await asyncio.sleep(self.check_s)
            if self._conn is None:
                continue
            try:
                await self._conn.execute(text("SELECT 1"))
                await self._conn.commit()
            except Exception as exc:
                await self._drop()
                raise StorageError(
                    f"lost the orchestrator lock's database connection ({exc!r}); the "
                    "orchestrator stops and tries to take the lock again"
                ) from exc

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # already broken
                await conn.invalidate()

    async def release(self) -> None:
        """Give the lock back (closing its connection frees it in any case)."""
        self._granted = False
        if self._conn is None:
            return
        try:
            await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            await self._conn.commit()
        except Exception as exc:  # the connection is gone: so is the lock
            log.debug("advisory unlock failed", error=repr(exc))
        await self._drop()
