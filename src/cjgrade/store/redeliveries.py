"""What distributed mode does more than once, on the record: re-dispatched requests and judge
calls paid again after a comparison's outcome was stored.

* :func:`count_redispatches` adds one to ``redispatches`` of each comparison whose request was
  published again.
* :func:`note_result_events` records the event id of each stored ``comparison.completed``
  (``result_event_id``), so a later result can be told apart: the same id is a replay of the
  stored answer (free), another id a second judge call.
* :func:`record_repeat_call` adds such a second call to the comparison: one more
  ``repeat_calls``, its provider requests to ``attempts``, its tokens to the token columns and
  its cost to ``cost_usd`` (an unknown cost makes the total unknown), so the batch's spend is
  what was paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.judges.base import Usage
from cjgrade.store.models import Comparison, utcnow

__all__ = [
    "NOTE_GRACE_S",
    "count_redispatches",
    "has_outcome",
    "note_result_events",
    "record_repeat_call",
]

NOTE_GRACE_S = 5.0
"""How long after an outcome is stored its result's event id may still be unnoted."""


def _age_s(when: datetime) -> float:
    now = utcnow()
    if when.tzinfo is None and now.tzinfo is not None:
        when = when.replace(tzinfo=now.tzinfo)  # SQLite returns naive UTC times
    return (now - when).total_seconds()


async def count_redispatches(session: AsyncSession, comparison_ids: Sequence[int]) -> int:
    """One more re-dispatch for each of these pending comparisons; returns the rows updated."""
    if not comparison_ids:
        return 0
    result = await session.execute(
        update(Comparison)
        .where(Comparison.id.in_(list(comparison_ids)), Comparison.status == "pending")
        .values(redispatches=Comparison.redispatches + 1)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def note_result_events(session: AsyncSession, events: Mapping[int, str]) -> None:
    """Record the event id of each comparison's stored result (only where none is recorded),
    in one statement executed for every comparison."""
    if not events:
        return
    table = cast(Table, Comparison.__table__)
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("v_cid"), table.c.status != "pending",
               table.c.result_event_id.is_(None))
        .values(result_event_id=bindparam("v_event")),
        [{"v_cid": cid, "v_event": event} for cid, event in events.items()],
    )


async def record_repeat_call(
    session: AsyncSession, comparison_id: int, event_id: str, *, attempts: int,
    usage: Usage, cost_usd: float | None,
) -> str:
    """Add a second judge call to a comparison whose outcome is stored. Returns ``"repeat"``
    when recorded; ``"replay"`` (the stored result's own event, or a repeat already
    recorded), ``"pending"`` (no outcome, or
    no such comparison), ``"unnoted"`` (stored in the last ``NOTE_GRACE_S`` seconds, its event
    id not yet noted: ask again) or ``"unknown"`` (stored without a noted event id, e.g. by a
    process that died before noting it) when nothing was written."""
    row = (await session.execute(
        select(Comparison.status, Comparison.result_event_id, Comparison.completed_at,
               Comparison.repeat_event_ids)
        .where(Comparison.id == comparison_id)
        .with_for_update()  # two tasks noting the same repeat: one counts it
    )).first()
    if row is None or row.status == "pending":
        return "pending"
    if row.result_event_id is None:
        recent = row.completed_at is not None and _age_s(row.completed_at) < NOTE_GRACE_S
        return "unnoted" if recent else "unknown"
    if row.result_event_id == event_id or event_id in (row.repeat_event_ids or ()):
        return "replay"
    billed = any((usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
                  usage.cache_write_tokens)) or bool(cost_usd)
    values: dict[str, object] = {
        "repeat_event_ids": [*(row.repeat_event_ids or ()), event_id],
        "repeat_calls": Comparison.repeat_calls + 1,
        "attempts": Comparison.attempts + attempts,
    }
    if billed:
        values.update(
            input_tokens=func.coalesce(Comparison.input_tokens, 0) + usage.input_tokens,
            output_tokens=func.coalesce(Comparison.output_tokens, 0) + usage.output_tokens,
            cache_read_tokens=func.coalesce(Comparison.cache_read_tokens, 0)
            + usage.cache_read_tokens,
            cache_write_tokens=func.coalesce(Comparison.cache_write_tokens, 0)
            + usage.cache_write_tokens,
            # A known cost adds up; nothing billed before (no usage written) is 0; a stored
            # unknown cost stays unknown.
            cost_usd=None if cost_usd is None else case(
                (Comparison.cost_usd.is_not(None), Comparison.cost_usd + cost_usd),
                (Comparison.input_tokens.is_(None), cost_usd),
                else_=None),
        )
    await session.execute(
        update(Comparison).where(Comparison.id == comparison_id).values(**values)
        .execution_options(synchronize_session=False)
    )
    return "repeat"


async def has_outcome(session: AsyncSession, batch_id: str, comparison_id: int) -> bool:
    """Whether the comparison is stored with an outcome (a worker asks before judging)."""
    status = await session.scalar(
        select(Comparison.status).where(Comparison.id == comparison_id,
                                        Comparison.batch_id == batch_id)
    )
    return status is not None and status != "pending"
