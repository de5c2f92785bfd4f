"""Migrations: up from empty on SQLite and PostgreSQL, idempotent, matching the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from cjgrade.config import load_settings
from cjgrade.errors import ConflictError, StorageError
from cjgrade.store import Store, current_revision, head_revision, open_store
from cjgrade.store.models import Base

TABLES = {
    "content",
    "assignments",
    "anchors",
    "api_tokens",
    "batches",
    "batch_essays",
    "comparisons",
    "round_fits",
    "grade_projections",
    "judge_cache",
    "outbox",
    "alembic_version",
}


async def test_upgrade_from_empty(empty_db_url: str) -> None:
    """From an empty database: migrate=False creates nothing; open_store migrates to head with
    a schema equal to the models; opening again is a no-op that keeps the data."""
    bare = await open_store(empty_db_url, migrate=False)
    try:
        assert await current_revision(bare.engine) is None
    finally:
        await bare.close()
    store = await open_store(empty_db_url)
    try:
        assert await current_revision(store.engine) == head_revision()
        async with store.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
        assert tables == TABLES
        assert diff == []
        async with store.transaction() as s:
            await s.execute(
                text(
                    "INSERT INTO outbox (topic, payload, attempts, created_at) "
                    "VALUES ('t', '{}', 0, CURRENT_TIMESTAMP)"
                )
            )
    finally:
        await store.close()
    again = await open_store(empty_db_url)
    try:
        assert await current_revision(again.engine) == head_revision()
        async with again.transaction() as s:
            assert await s.scalar(text("SELECT count(*) FROM outbox")) == 1
    finally:
        await again.close()


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    """SQLite files use WAL with synchronous=NORMAL and enforce foreign keys on every
    connection."""
    store = await open_store(load_settings(env={"CJGRADE_HOME": str(tmp_path)}))
    try:
        async with store.engine.connect() as conn:
            assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await conn.scalar(text("PRAGMA foreign_keys"))) == 1
            assert (await conn.scalar(text("PRAGMA synchronous"))) == 1  # NORMAL
        assert (tmp_path / "cjgrade.sqlite3").exists()
    finally:
        await store.close()


async def test_unreachable_database_is_storage_error_without_password() -> None:
    """A refused connection gives StorageError naming the URL, password hidden."""
    url = "postgresql://u:p%40ss%3Aw%2Frd%25@127.0.0.1:1/db"
    with pytest.raises(StorageError) as info:
        await open_store(url)
    assert "p@ss" not in str(info.value) and "p%40ss" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)


async def test_constraint_violation_is_storage_error(store: Store) -> None:
    """A write that breaks a constraint surfaces as StorageError and is rolled back."""
    with pytest.raises(StorageError, match="refused"):
        async with store.transaction() as s:
            await s.execute(
                text(
                    "INSERT INTO batches (id, status, settings, current_round, created_at, "
                    "updated_at) VALUES ('x', 'bogus', '{}', 0, CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                )
            )
    async with store.transaction() as s:
        assert await s.scalar(text("SELECT count(*) FROM batches")) == 0


async def test_unique_violation_is_conflict_error(store: Store) -> None:
    """A write that repeats a unique key (what a lost race does) is a ConflictError with the
    driver error as its cause, not a generic StorageError; nothing is written."""
    from sqlalchemy.exc import IntegrityError

    insert = text(
        "INSERT INTO api_tokens (id, name, role, token_hash, created_at) "
        "VALUES (:id, 'n', 'read', :h, CURRENT_TIMESTAMP)"
    )
    with pytest.raises(ConflictError, match="concurrent") as info:
        async with store.transaction() as s:
            await s.execute(insert, {"id": "t1", "h": "a" * 64})
            await s.execute(insert, {"id": "t2", "h": "a" * 64})
    assert isinstance(info.value.__cause__, IntegrityError)
    assert not isinstance(info.value, StorageError)
    async with store.transaction() as s:
        assert await s.scalar(text("SELECT count(*) FROM api_tokens")) == 0


async def test_concurrent_first_use_migrates_once(empty_db_url: str) -> None:
    """Three processes' worth of open_store on one empty database at once all succeed: one
    migrates, the others wait for the lock and find the schema current."""
    stores = await asyncio.gather(*(open_store(empty_db_url) for _ in range(3)))
    try:
        for store in stores:
            assert await current_revision(store.engine) == head_revision()
        async with stores[0].engine.connect() as conn:
            n = await conn.scalar(text("SELECT count(*) FROM alembic_version"))
        assert n == 1
    finally:
        for store in stores:
            await store.close()
