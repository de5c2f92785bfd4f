"""Insert-if-absent and upsert that work on SQLite and PostgreSQL (``ON CONFLICT``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

__all__ = ["dialect_insert", "insert_if_absent", "upsert"]


def dialect_insert(session: AsyncSession, model: type[DeclarativeBase]) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"dialect {name} is not supported")


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
