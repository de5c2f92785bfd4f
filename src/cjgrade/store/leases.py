"""Who holds the lease of each unfinished batch (for taking over the batches of a dead
process at once instead of waiting for its lease to expire)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.store.models import Batch

__all__ = ["list_lease_holders"]


async def list_lease_holders(session: AsyncSession) -> list[tuple[str, str]]:
    """``(batch id, lease owner)`` of every unfinished batch whose lease is held, oldest first
    (expired leases included: the caller decides)."""
    stmt = (
        select(Batch.id, Batch.lease_owner)
        .where(Batch.status.in_(["created", "running", "finalising"]))
        .where(Batch.lease_owner.is_not(None))
        .order_by(Batch.created_at, Batch.id)
    )
    return [(r.id, str(r.lease_owner)) for r in await session.execute(stmt)]
