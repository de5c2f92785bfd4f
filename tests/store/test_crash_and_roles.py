"""A process killed mid-transaction leaves nothing half-written; special-character passwords
connect to a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cjgrade.config import load_settings, normalise_database_url, render_url
from cjgrade.judges.base import Verdict, Winner
from cjgrade.store import (
    NewComparison,
    NewEssay,
    Store,
    count_comparisons,
    create_batch,
    list_batches,
    open_store,
    record_verdict,
    request_comparisons,
)
from tests.store.fixtures import pg_execute

REPO = Path(__file__).resolve().parents[2]

# The child records a verdict and queues a batch, then dies by SIGKILL before committing.
CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from cjgrade.judges.base import Verdict, Winner
    from cjgrade.store import NewEssay, create_batch, open_store, record_verdict

    async def main(url, comparison_id):
        store = await open_store(url)
        async with store.transaction() as s:
            verdict = Verdict(winner=Winner.B, p_a=0.1, justification="child", provider="sim",
                              model="bt", request_sha256="a" * 64)
            assert await record_verdict(s, comparison_id, verdict)
            await create_batch(s, [NewEssay("x", text="orphan")], label="orphan")
            await s.flush()
            print("flushed", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_killed_process_leaves_no_partial_state(store: Store, db_url: str) -> None:
    """After SIGKILL inside a transaction the verdict is still pending and no batch leaked;
    the comparison can then be completed normally."""
    async with store.transaction() as s:
        batch = await create_batch(s, [NewEssay("e0", text="A"), NewEssay("e1", text="B")])
        (c,) = await request_comparisons(s, batch.id, 1, [NewComparison(0, "e0", "e1", "a" * 64)])
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        db_url,
        str(c.id),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert b"flushed" in out, err.decode()
    assert proc.returncode == -9
    async with store.transaction() as s:
        assert await count_comparisons(s, batch.id) == {"pending": 1, "succeeded": 0, "failed": 0}
        assert [b.label for b in await list_batches(s)] == [None]
        verdict = Verdict(
            winner=Winner.A,
            p_a=1.0,
            justification="parent",
            provider="sim",
            model="bt",
            request_sha256="a" * 64,
        )
        assert await record_verdict(s, c.id, verdict)


# The child commits a verdict, then dies by SIGKILL at once (nothing closed or checkpointed).
COMMITTED_CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from cjgrade.judges.base import Verdict, Winner
    from cjgrade.store import open_store, record_verdict

    async def main(url, comparison_id):
        store = await open_store(url)
        async with store.transaction() as s:
            verdict = Verdict(winner=Winner.B, p_a=0.1, justification="child", provider="sim",
                              model="bt", request_sha256="a" * 64)
            assert await record_verdict(s, comparison_id, verdict)
        print("committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_committed_verdict_survives_process_kill(store: Store, db_url: str) -> None:
    """A verdict committed just before SIGKILL is there for the resumed run (on SQLite with
    WAL and synchronous=NORMAL too: commits are durable across process crashes)."""
    async with store.transaction() as s:
        batch = await create_batch(s, [NewEssay("e0", text="A"), NewEssay("e1", text="B")])
        (c,) = await request_comparisons(s, batch.id, 1, [NewComparison(0, "e0", "e1", "a" * 64)])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", COMMITTED_CHILD, db_url, str(c.id), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert b"committed" in out, err.decode()
    assert proc.returncode == -9
    async with store.transaction() as s:
        assert await count_comparisons(s, batch.id) == {"pending": 0, "succeeded": 1, "failed": 0}


@pytest.mark.parametrize("password", ["p@ss:w/rd%", "omT9VJ#1cvqPjuMzP5exdGp9h#m3zmQn"])
async def test_role_with_special_password_connects(pg_url: str, password: str) -> None:
    """A PostgreSQL role whose password has URL metacharacters connects when the URL is built
    from CJGRADE_DB_* parts and from an encoded DATABASE_URL; the password is never rendered."""
    role = f"cjgrade_pw_{uuid.uuid4().hex[:8]}"
    quoted = password.replace("'", "''")
    await pg_execute(f"CREATE ROLE {role} LOGIN PASSWORD '{quoted}'")
    try:
        target = make_url(pg_url)
        env = {
            "CJGRADE_DB_HOST": target.host or "127.0.0.1",
            "CJGRADE_DB_PORT": str(target.port or 5432),
            "CJGRADE_DB_NAME": target.database or "",
            "CJGRADE_DB_USER": role,
            "CJGRADE_DB_PASSWORD": password,
        }
        url = load_settings(env=env).url()
        encoded = url.render_as_string(hide_password=False)
        assert make_url(encoded).password == password
        for candidate in (url, normalise_database_url(encoded.replace("+asyncpg", ""))):
            store = await open_store(candidate, migrate=False)
            try:
                async with store.engine.connect() as conn:
                    assert await conn.scalar(text("SELECT current_user")) == role
                assert password not in store.display_url and password not in render_url(encoded)
            finally:
                await store.close()
    finally:
        await pg_execute(f"DROP ROLE IF EXISTS {role}")
