"""Engine, sessions and :func:`open_store`, the one entry point to the database.

Usage::

    store = await open_store()                 # settings from flags/env/file; migrates
    async with store.transaction() as session:  # commits on success, rolls back on error
        content_id = await put_text(session, "...")
    await store.close()

Repository functions (``store.content``, ``store.assignments``, ...) take the session as their
first argument and never commit, so several of them compose into one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cjgrade.config import Settings, load_settings, normalise_database_url, render_url
from cjgrade.errors import StorageError

__all__ = ["Store", "create_engine", "open_store"]


def create_engine(url: URL | str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (normalised to asyncpg/aiosqlite).

    On SQLite every connection gets WAL journaling, enforced foreign keys and a busy timeout,
    so a second process waits briefly instead of failing with "database is locked".
    """
    url = normalise_database_url(url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        if _is_file_database(dbapi_connection):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def _is_file_database(dbapi_connection: Any) -> bool:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA database_list")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return any(row[1] == "main" and row[2] for row in rows)


class Store:
    """An engine plus a session factory. Create with :func:`open_store`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL with the password hidden: safe for logs and messages."""
        return render_url(self.engine.url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error.

        A constraint violation or a lost connection surfaces as :class:`StorageError` (the
        driver's exception is kept as ``__cause__``); cjgrade errors pass through unchanged.
        """
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise StorageError(f"the database refused the change: {_short(exc)}") from exc
        except (OperationalError, InterfaceError) as exc:
            raise StorageError(
                f"database {self.display_url} failed: {_short(exc)}; check that it is running"
            ) from exc

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_store(
    target: Settings | URL | str | None = None, *, migrate: bool = True, **engine_kwargs: Any
) -> Store:
    """Connect to the database and (by default) bring its schema up to the newest migration.

    ``target`` is a :class:`~cjgrade.config.Settings`, a URL, or None for
    :func:`~cjgrade.config.load_settings`. Raises :class:`StorageError` when the database cannot
    be reached (the message names the URL without its password).
    """
    if target is None:
        target = load_settings()
    url = target.url() if isinstance(target, Settings) else normalise_database_url(target)
    engine = create_engine(url, **engine_kwargs)
    store = Store(engine)
    try:
        if migrate:
            from cjgrade.store.migrate import upgrade_database

            await upgrade_database(engine)
        else:
            async with engine.connect():
                pass
    except (OSError, OperationalError, DBAPIError) as exc:
        await engine.dispose()
        raise StorageError(
            f"cannot open database {render_url(url)}: {_short(exc)}; check DATABASE_URL or "
            "CJGRADE_DB_HOST/PORT/NAME/USER/PASSWORD and that the server is running"
        ) from exc
    except BaseException:
        await engine.dispose()
        raise
    return store


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
