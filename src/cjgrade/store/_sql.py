"""Insert-if-absent and upsert that work on SQLite and PostgreSQL (``ON CONFLICT``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

__all__ = [
    "STALE_STATISTICS_ROWS",
    "dialect_insert",
    "insert_if_absent",
    "refresh_statistics",
    "upsert",
]


def dialect_insert(session: AsyncSession, model: type[DeclarativeBase] | Table) -> Any:
    """The dialect's INSERT (with ``ON CONFLICT``) of a model, or of its table (a plain Core
    insert: many rows without the ORM's per-row bookkeeping)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"dialect {name} is not supported")


STALE_STATISTICS_ROWS = 500
"""Rows beyond twice the planner's count that make :func:`refresh_statistics` analyse."""


async def refresh_statistics(
    session: AsyncSession, model: type[DeclarativeBase], *, added: int
) -> bool:
    """PostgreSQL: ``ANALYZE`` ``model``'s table after ``added`` rows were inserted, when the
    planner's row count is stale (no-op on SQLite). Returns whether it analysed.

    A batch adds thousands of rows within seconds, long before autovacuum's next analyse, and
    a planner that believes a table nearly empty plans the round's claim and the per-essay
    updates as full scans (figures: docs/benchmarks.md, "Round-fit thresholds").
    The table is analysed when it holds more than twice the rows the planner
    counts plus :data:`STALE_STATISTICS_ROWS` (so a few times while it grows, rarely once it
    is large: ``ANALYZE`` takes a lock that concurrent analyses of the same table wait for).
    ``ANALYZE`` samples at most 30,000 rows, so one costs tens of milliseconds.
    """
    if session.get_bind().dialect.name != "postgresql":
        return False
    table = model.__table__.name  # type: ignore[attr-defined]
    counts = (await session.execute(
        text(
            "SELECT c.reltuples, COALESCE(s.n_live_tup, 0) FROM pg_class c "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.oid = to_regclass(:table)"
        ),
        {"table": table},
    )).first()
    planned = max(float(counts[0]), 0.0) if counts else 0.0
    live = (float(counts[1]) if counts else 0.0) + added
    if live <= 2.0 * planned + STALE_STATISTICS_ROWS:
        return False
    await session.execute(text(f'ANALYZE "{table}"'))
    return True


async def insert_if_absent(
    session: AsyncSession,
    model: type[DeclarativeBase],
    values: Mapping[str, Any],
    conflict: Sequence[str],
    returning: Iterable[Any] = (),
) -> Row[Any] | None:
    """Insert ``values`` unless a row with the same ``conflict`` columns exists.

    Returns the ``returning`` columns of the new row, or None when a row was already there
    (also under concurrency: the database decides, not a prior SELECT).
    """
    cols = list(returning) or [getattr(model, conflict[0])]
    stmt = (
        dialect_insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict)
    )
    result = await session.execute(stmt.returning(*cols))
    return result.first()


async def upsert(
    session: AsyncSession,
    model: type[DeclarativeBase],
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Sequence[str],
    returning: Iterable[Any] = (),
) -> Row[Any]:
    """Insert ``values`` or, on a ``conflict`` key clash, overwrite the ``update`` columns."""
    ins = dialect_insert(session, model).values(**values)
    stmt = ins.on_conflict_do_update(
        index_elements=conflict, set_={c: getattr(ins.excluded, c) for c in update}
    )
    cols = list(returning) or [getattr(model, conflict[0])]
    result = await session.execute(stmt.returning(*cols).execution_options(populate_existing=True))
    return result.one()
