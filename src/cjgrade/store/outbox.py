"""Transactional outbox: events are written in the same transaction as the state change they
announce, then a relay publishes them (Kafka or in-process) and marks them published.

Delivery is at-least-once: a relay that dies between publishing and :func:`mark_published`
publishes again, so consumers deduplicate by the envelope's event id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.errors import InputError
from cjgrade.store.models import OutboxEvent, utcnow
from cjgrade.store.records import OutboxRecord, record_from_row

__all__ = [
    "add_event",
    "claim_unpublished",
    "list_events",
    "list_unpublished",
    "mark_failed",
    "mark_published",
]


async def add_event(
    session: AsyncSession, topic: str, payload: Mapping[str, Any], key: str | None = None
) -> int:
    """Queue an event in the caller's transaction; returns its id."""
    if not topic:
        raise InputError("event topic must not be empty")
    try:
        data = json.loads(json.dumps(dict(payload), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InputError(f"event payload must be plain JSON: {exc}") from None
    row = OutboxEvent(topic=topic, key=key, payload=data, attempts=0, created_at=utcnow())
    session.add(row)
    await session.flush()
    return row.id


def _record(row: OutboxEvent) -> OutboxRecord:
    return record_from_row(OutboxRecord, row)


async def claim_unpublished(
    session: AsyncSession, limit: int = 100, max_attempts: int | None = None
) -> list[OutboxRecord]:
    """Unpublished events, oldest first, locked until the transaction ends (PostgreSQL skips
    rows another relay holds). Publish them, then :func:`mark_published` in the same
    transaction. Events with ``attempts >= max_attempts`` are left for an operator."""
    stmt = (
        select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if max_attempts is not None:
        stmt = stmt.where(OutboxEvent.attempts < max_attempts)
    return [_record(r) for r in await session.scalars(stmt)]


async def list_unpublished(
    session: AsyncSession,
    *,
    ids: Sequence[int] | None = None,
    key: str | None = None,
    topic: str | None = None,
) -> list[OutboxRecord]:
    """Unpublished events (oldest first), optionally only these ids / this key / this topic.

    No locks are taken: for inspection and for in-process publishing right after a commit.
    """
    stmt = (
        select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.id)
        .execution_options(populate_existing=True)
    )
    if ids is not None:
        stmt = stmt.where(OutboxEvent.id.in_(list(ids)))
    if key is not None:
        stmt = stmt.where(OutboxEvent.key == key)
    if topic is not None:
        stmt = stmt.where(OutboxEvent.topic == topic)
    return [_record(r) for r in await session.scalars(stmt)]


async def mark_published(session: AsyncSession, ids: Sequence[int]) -> int:
    """Mark events published; returns how many changed (already-published ones are skipped)."""
    if not ids:
        return 0
    result = await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_(list(ids)), OutboxEvent.published_at.is_(None))
        .values(published_at=utcnow(), attempts=OutboxEvent.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


async def mark_failed(session: AsyncSession, event_id: int, error: str) -> None:
    """Count a failed publish attempt and keep the error for the operator."""
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id)
        .values(attempts=OutboxEvent.attempts + 1, last_error=error[:2000])
        .execution_options(synchronize_session=False)
    )


async def list_events(
    session: AsyncSession, key: str, topics: Sequence[str] | None = None
) -> list[OutboxRecord]:
    """Every event queued for ``key`` (published or not), oldest first, optionally only these
    topics: the durable copy a client reads when the bus lost an event."""
    stmt = select(OutboxEvent).where(OutboxEvent.key == key).order_by(OutboxEvent.id)
    if topics is not None:
        stmt = stmt.where(OutboxEvent.topic.in_(list(topics)))
    return [_record(r) for r in await session.scalars(stmt)]
