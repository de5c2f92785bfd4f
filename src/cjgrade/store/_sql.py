"""Insert-if-absent and upsert that work on SQLite and PostgreSQL (``ON CONFLICT``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

__all__ = ["dialect_insert", "insert_if_absent", "refresh_statistics", "upsert"]


def dialect_insert(session: AsyncSession, model: type[DeclarativeBase]) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"dialect {name} is not supported")


async def refresh_statistics(session: AsyncSession, *models: type[DeclarativeBase]) -> None:
    """PostgreSQL: ``ANALYZE`` the models' tables after a bulk insert (no-op on SQLite).

    A batch adds thousands of rows within seconds, long before autovacuum's next analyse;
    with the planner still believing a table nearly empty, PostgreSQL joined the round's claim
    and the per-essay updates by scanning the whole table once per row (about 1 s each at
    2,000 essays). ``ANALYZE`` samples at most 30,000 rows, so it costs tens of milliseconds
    however large the table grows.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        table = model.__table__.name  # type: ignore[attr-defined]
        await session.execute(text(f'ANALYZE "{table}"'))


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
