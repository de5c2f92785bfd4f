"""Alembic, driven programmatically on the caller's async engine (no ``alembic.ini`` needed).

Migrations live in ``cjgrade/store/migrations/versions`` and ship with the package. They are
forward-only and named (``0001_initial``, ...). On PostgreSQL the upgrade holds an advisory lock,
so two processes starting at once do not both migrate.
"""

from __future__ import annotations

import functools
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade_database"]

_LOCK_ID = 0x636A677261646500  # "cjgrade\0": arbitrary but fixed advisory-lock key


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations, sharing ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", "cjgrade.store:migrations")
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest migration id (read once per process: the migrations ship with the code)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's migration id, or None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Apply pending migrations atomically; a no-op when the schema is current.

    PostgreSQL: one transaction (DDL is transactional) under an advisory lock. SQLite: a
    separate connection in ``BEGIN IMMEDIATE`` mode, because the default driver mode commits
    each DDL statement on its own; this makes the migration all-or-nothing and serialises
    concurrent migrators on the write lock. Alembic re-reads the version inside the lock, so a
    second migrator finds nothing to do. Returns the new revision.
    """
    head = head_revision()
    async with engine.connect() as conn:
        if revision == "head" and await conn.run_sync(_current) == head:
            return head
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        migrator = _sqlite_migration_engine(engine)
        try:
            async with migrator.begin() as conn:
                await conn.run_sync(_upgrade, revision)
                return await conn.run_sync(_current)
        finally:
            await migrator.dispose()
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        await conn.run_sync(_upgrade, revision)
        return await conn.run_sync(_current)


def _sqlite_migration_engine(engine: AsyncEngine) -> AsyncEngine:
    migrator = create_async_engine(engine.url, poolclass=NullPool)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    def on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(migrator.sync_engine, "connect", on_connect)
    event.listen(migrator.sync_engine, "begin", on_begin)
    return migrator


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)
