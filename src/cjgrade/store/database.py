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

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

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
from cjgrade.errors import ConflictError, StorageError
from cjgrade.store._scales import USER_SCALES_KEY

if TYPE_CHECKING:
    from cjgrade.scales import GradeScale

__all__ = ["Store", "create_engine", "open_store"]


def create_engine(url: URL | str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (normalised to asyncpg/aiosqlite).

    On SQLite every connection gets WAL journaling with ``synchronous=NORMAL`` (file databases),
    enforced foreign keys and a busy timeout, so a second process waits briefly instead of
    failing with "database is locked".
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
        # The busy timeout first: switching a new file to WAL takes a lock, and connections
        # racing on a fresh database must wait for it rather than fail with "database is locked".
        cursor.execute("PRAGMA busy_timeout=10000")
        if _is_file_database(dbapi_connection):
            cursor.execute("PRAGMA journal_mode")  # reading the mode takes no lock
            (mode,) = cursor.fetchone()
            mode = str(mode).lower()
            if mode != "wal":
                mode = _switch_to_wal_in_hook(cursor, mode)
            if mode == "wal":
                # In WAL mode, NORMAL skips the fsync per commit (the WAL is synced at each
                # checkpoint): a committed transaction survives the process being killed, which
                # is what resuming relies on; only an OS crash or power cut can lose the last
                # commits (never corrupting the file).
                cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _switch_to_wal_in_hook(cursor: Any, mode: str) -> str:
    """Try to switch to WAL from the connect hook; the journal mode now in force.

    :func:`open_store` switches a file to WAL before any connection opens, so this only runs
    for engines made with :func:`create_engine` directly. If another connection holds the lock
    right then, the file keeps its mode for this connection (it is still correct, only slower)
    and a later connection switches it.
    """
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        (new_mode,) = cursor.fetchone()
        return str(new_mode).lower()
    except Exception as exc:  # the driver's OperationalError, whichever adapter raised it
        if "locked" not in str(exc):
            raise
        return mode


def ensure_sqlite_wal(path: str, wait_s: float = 10.0) -> None:
    """Put the SQLite file at ``path`` in WAL mode (creating it if needed), waiting for a lock.

    Run in a worker thread. The switch needs an exclusive lock, and SQLite refuses it at once
    ("database is locked"), without its busy handler, while another process or connection is
    migrating a fresh file. WAL is a property of the file, so we retry for up to ``wait_s``
    seconds, then raise :class:`StorageError`.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=wait_s)) as conn:
                (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                raise StorageError(f"{path}: SQLite refused WAL journaling (mode {mode})")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise StorageError(
                    f"cannot open database {path}: {exc}; check that its folder exists and is "
                    "writable and that the path is not a folder (or give another "
                    "--database-url / CJGRADE_HOME)"
                ) from exc
            if time.monotonic() >= deadline:
                raise StorageError(
                    f"cannot open database {path}: {exc}; another process holds it locked"
                ) from exc
            time.sleep(0.05)


def _is_file_database(dbapi_connection: Any) -> bool:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA database_list")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return any(row[1] == "main" and row[2] for row in rows)


class Store:
    """An engine plus a session factory. Create with :func:`open_store`.

    ``user_scales`` are the grade scales from ``CJGRADE_SCALES_FILE`` (besides the built-ins)
    that the repository functions accept; every session carries them in ``session.info``.
    """

    def __init__(self, engine: AsyncEngine, user_scales: Iterable[GradeScale] = ()) -> None:
        self.engine = engine
        self.user_scales: tuple[GradeScale, ...] = tuple(user_scales)
        self.sessions = async_sessionmaker(
            engine, expire_on_commit=False, info={USER_SCALES_KEY: self.user_scales}
        )

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

        A unique-constraint violation (another transaction created the same row first) surfaces
        as :class:`ConflictError`, any other constraint violation or a lost connection as
        :class:`StorageError`; the driver's exception is kept as ``__cause__``. cjgrade errors
        pass through unchanged.
        """
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise ConflictError(
                    "a concurrent change created the same record first; nothing was written, "
                    f"retry ({_short(exc)})"
                ) from exc
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
    target: Settings | URL | str | None = None,
    *,
    migrate: bool = True,
    user_scales: Iterable[GradeScale] | None = None,
    **engine_kwargs: Any,
) -> Store:
    """Connect to the database and (by default) bring its schema up to the newest migration.

    ``target`` is a :class:`~cjgrade.config.Settings`, a URL, or None for
    :func:`~cjgrade.config.load_settings`. ``user_scales`` default to the settings' scales file
    (none for a bare URL). Raises :class:`StorageError` when the database cannot be reached
    (the message names the URL without its password), :class:`ConfigError` for a bad scales
    file.
    """
    if target is None:
        target = load_settings()
    if user_scales is None:
        user_scales = target.load_user_scales() if isinstance(target, Settings) else ()
    url = target.url() if isinstance(target, Settings) else normalise_database_url(target)
    engine = create_engine(url, **engine_kwargs)
    store = Store(engine, user_scales)
    try:
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            await asyncio.to_thread(ensure_sqlite_wal, str(engine.url.database))
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


# SQLSTATE 23505 (PostgreSQL); SQLITE_CONSTRAINT_UNIQUE and _PRIMARYKEY extended codes.
_PG_UNIQUE_VIOLATION = "23505"
_SQLITE_UNIQUE_CODES = frozenset({2067, 1555})


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a unique/primary-key clash (not a check or foreign-key failure)."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == _PG_UNIQUE_VIOLATION:
        return True
    if getattr(orig, "pgcode", None) == _PG_UNIQUE_VIOLATION:
        return True
    return getattr(orig, "sqlite_errorcode", None) in _SQLITE_UNIQUE_CODES


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
