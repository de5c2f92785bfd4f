"""Reusable database fixtures: every test runs on SQLite and on a real PostgreSQL server.

Other test packages import them in their ``conftest.py``::

    from tests.store.fixtures import db_url, pg_url, store  # noqa: F401

* ``db_url``  - parametrised ``sqlite`` / ``postgresql``: an empty, migrated database per test
  (a copied temp file, or the session's PostgreSQL database with every table emptied);
* ``pg_url``  - the same, PostgreSQL only;
* ``store``   - an opened :class:`cjgrade.store.Store` on ``db_url``.

The PostgreSQL server is ``$CJGRADE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/
postgres``). Tests skip with a message only when no server answers; any other failure fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from cjgrade.store import Store, open_store

__all__ = ["db_url", "empty_db_url", "pg_admin_url", "pg_execute", "pg_url", "store"]

_DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
_state: dict[str, object] = {}


def pg_admin_url() -> URL:
    """The maintenance database URL of the test server."""
    return make_url(os.environ.get("CJGRADE_TEST_PG", _DEFAULT_PG))


async def _pg_connect(database: str | None = None) -> asyncpg.Connection:
    """A connection to ``database`` (default: the maintenance database) on the test server."""
    admin = pg_admin_url()
    return await asyncpg.connect(
        host=admin.host,
        port=admin.port or 5432,
        user=admin.username,
        password=admin.password,
        database=database or admin.database,
        timeout=5,
    )


async def pg_execute(sql: str, database: str | None = None) -> None:
    """Run one statement on the test server's maintenance database (or ``database``)."""
    conn = await _pg_connect(database)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _with_database(name: str) -> URL:
    return pg_admin_url().set(drivername="postgresql+asyncpg", database=name)


def _test_db_name(kind: str) -> str:
    """``cjgrade_<kind>_<pid>_<random>``: the pid lets a later session drop orphans."""
    return f"cjgrade_{kind}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _drop_orphans() -> None:
    """Drop test databases left by killed sessions on this machine (their pid is gone)."""
    if pg_admin_url().host not in ("127.0.0.1", "localhost", "::1"):
        return
    conn = await _pg_connect()
    try:
        names = [
            r[0]
            for r in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname ~ '^cjgrade_(tpl|empty)_[0-9]+_'"
            )
        ]
        for name in names:
            if not _pid_alive(int(name.split("_")[2])):
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _pg_template() -> str:
    """Create (once per test session) a migrated database; skip if no server answers."""
    if "pg_skip" in _state:
        pytest.skip(str(_state["pg_skip"]))
    if "pg_template" not in _state:
        name = _test_db_name("tpl")
        try:
            asyncio.run(_drop_orphans())
            asyncio.run(pg_execute(f'CREATE DATABASE "{name}"'))
        except (TimeoutError, OSError) as exc:
            _state["pg_skip"] = (
                f"no PostgreSQL server answers at {pg_admin_url().render_as_string()} ({exc}); "
                "start one or set CJGRADE_TEST_PG"
            )
            pytest.skip(str(_state["pg_skip"]))
        _state["pg_template"] = name

        async def migrate() -> None:
            store = await open_store(_with_database(name))
            await store.close()

        asyncio.run(migrate())
    return str(_state["pg_template"])


def _drop_template() -> None:
    name = _state.pop("pg_template", None)
    if name:
        asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _sqlite_template(tmp_root: Path) -> Path:
    if "sqlite_template" not in _state:
        path = tmp_root / "template.sqlite3"

        async def migrate() -> None:
            store = await open_store(URL.create("sqlite+aiosqlite", database=str(path)))
            await store.close()

        asyncio.run(migrate())
        _state["sqlite_template"] = path
    return Path(str(_state["sqlite_template"]))


@pytest.fixture(scope="session")
def _db_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("db_templates")
    yield root
    _drop_template()


async def _empty_tables(database: str) -> None:
    from cjgrade.store.models import Base

    # DELETE beats TRUNCATE by far on tiny tables; children first for the foreign keys.
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    sql = "SET lock_timeout = '5s';" + "".join(f'DELETE FROM "{t}";' for t in tables)
    await pg_execute(sql, database)


@pytest.fixture
def pg_url(_db_templates: Path) -> str:
    """A migrated PostgreSQL database with every table emptied (URL with asyncpg driver).

    One database serves the whole test session (created once, dropped at the end); each test
    starts from empty tables. Tests must close their connections (a held lock fails the next
    test's DELETE after 5 s instead of hanging).
    """
    name = _pg_template()
    asyncio.run(_empty_tables(name))
    return _with_database(name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, _db_templates: Path, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database per test: SQLite file and PostgreSQL in turn."""
    if request.param == "sqlite":
        path = tmp_path / "cjgrade.sqlite3"
        shutil.copyfile(_sqlite_template(_db_templates), path)
        yield URL.create("sqlite+aiosqlite", database=str(path)).render_as_string()
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables, no migrations): for testing migrations from scratch."""
    if request.param == "sqlite":
        yield URL.create(
            "sqlite+aiosqlite", database=str(tmp_path / "empty.sqlite3")
        ).render_as_string()
        return
    _pg_template()  # skips when no server answers
    name = _test_db_name("empty")
    asyncio.run(pg_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(name).render_as_string(hide_password=False)
    finally:
        asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """An opened store on ``db_url`` (already migrated, so opening is cheap)."""
    opened = await open_store(db_url)
    try:
        yield opened
    finally:
        await opened.close()
