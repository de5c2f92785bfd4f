"""Batches and their essays: creation, status transitions, rounds and leases.

A batch is created in one transaction with all its essays (each with a stable ``position``), so
a crash never leaves half a batch. Its status only moves forward::

    created -> running -> finalising -> completed
       |          |            |
       +----------+------------+-> failed / cancelled

A process that runs a batch holds a *lease* (:func:`claim_batch`); when it dies the lease
expires and another process can claim the batch and resume from what the store holds.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.errors import ConflictError, InputError, StorageError
from cjgrade.store._scales import check_grade, check_scale
from cjgrade.store._sql import refresh_statistics
from cjgrade.store.assignments import require_assignment
from cjgrade.store.content import get_texts, put_text
from cjgrade.store.models import Batch, BatchEssay, Comparison, utcnow
from cjgrade.store.records import (
    BatchEssayRecord,
    BatchRecord,
    BatchStatus,
    NewEssay,
    NotFound,
    record_from_row,
)

__all__ = [
    "TRANSITIONS",
    "advance_round",
    "claim_batch",
    "count_batches",
    "create_batch",
    "get_batch",
    "list_batch_essays",
    "list_batches",
    "list_resumable_batches",
    "release_batch",
    "require_batch",
    "set_batch_status",
    "update_essay_estimates",
]

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "created": frozenset({"running", "finalising", "failed", "cancelled"}),
    "running": frozenset({"finalising", "failed", "cancelled"}),
    "finalising": frozenset({"completed", "failed"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
_ESSAY_ID_RE = re.compile(r"^\S(.{0,198}\S)?$")


def _check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return cast(dict[str, Any], json.loads(json.dumps(dict(settings), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InputError(f"batch settings must be plain JSON (no NaN/inf): {exc}") from None


def _check_batch_id(batch_id: str) -> str:
    try:
        canonical = str(uuid.UUID(batch_id))
    except (ValueError, AttributeError, TypeError):
        raise InputError(f"batch id {batch_id!r} is not a UUID") from None
    if canonical != batch_id:
        raise InputError(f"batch id {batch_id!r} must be in canonical form {canonical!r}")
    return batch_id


def _check_essays(
    session: AsyncSession, essays: Sequence[NewEssay], grade_scale: str | None
) -> list[str | None]:
    """Validate the essays; returns their grades in the scale's own spelling."""
    seen: set[str] = set()
    grades: list[str | None] = []
    for essay in essays:
        if not isinstance(essay.essay_id, str) or not _ESSAY_ID_RE.match(essay.essay_id):
            raise InputError(f"essay id {essay.essay_id!r} must be 1-200 characters, not blank")
        if essay.essay_id in seen:
            raise InputError(f"essay id {essay.essay_id!r} appears twice in the batch")
        seen.add(essay.essay_id)
        if (essay.text is None) == (essay.content_id is None):
            raise InputError(f"essay {essay.essay_id!r}: give either text or content_id")
        if essay.is_anchor and essay.grade is None:
            raise InputError(f"anchor {essay.essay_id!r} has no grade")
        if essay.grade is not None:
            if grade_scale is None:
                raise InputError(
                    f"essay {essay.essay_id!r} has a grade but the batch has no grade scale; "
                    "give an assignment or a grade_scale"
                )
            grades.append(check_grade(session, grade_scale, essay.grade))
        else:
            grades.append(None)
    return grades


async def create_batch(
    session: AsyncSession,
    essays: Sequence[NewEssay],
    *,
    settings: Mapping[str, Any] | None = None,
    label: str | None = None,
    assignment_id: str | None = None,
    grade_scale: str | None = None,
    batch_id: str | None = None,
) -> BatchRecord:
    """Create a batch with its essays (status ``created``, round 0).

    The grade scale is the assignment's (a different ``grade_scale`` is refused) or the one
    given. Essay grades are validated against it. ``batch_id`` defaults to a new uuid4.
    """
    settings_json = _check_settings(settings or {})
    if assignment_id is not None:
        assignment = await require_assignment(session, assignment_id)
        if grade_scale is not None and grade_scale != assignment.grade_scale:
            raise InputError(
                f"assignment {assignment.id!r} is graded on {assignment.grade_scale!r}, "
                f"not {grade_scale!r}; drop the grade scale or fix the assignment"
            )
        assignment_id, grade_scale = assignment.id, assignment.grade_scale
    elif grade_scale is not None:
        check_scale(session, grade_scale)
    if label is not None and len(label) > 200:
        raise InputError("batch label must be at most 200 characters")
    grades = _check_essays(session, essays, grade_scale)
    batch_id = _check_batch_id(batch_id) if batch_id else str(uuid.uuid4())
    if await session.get(Batch, batch_id) is not None:
        raise ConflictError(f"batch {batch_id} already exists; give another id or none")
    given_ids = [e.content_id for e in essays if e.content_id is not None]
    if given_ids:
        await get_texts(session, given_ids)  # NotFound for unknown content
    rows = []
    for position, essay in enumerate(essays):
        cid = essay.content_id
        if cid is None:
            assert essay.text is not None
            cid = await put_text(session, essay.text, f"essay {essay.essay_id!r}")
        rows.append(
            {
                "batch_id": batch_id,
                "essay_id": essay.essay_id,
                "position": position,
                "content_id": cid,
                "is_anchor": essay.is_anchor,
                "grade": grades[position],
                "label": essay.label,
                "n_comparisons": 0,
                "n_wins": 0.0,
            }
        )
    now = utcnow()
    session.add(
        Batch(
            id=batch_id,
            label=label,
            assignment_id=assignment_id,
            grade_scale=grade_scale,
            status="created",
            settings=settings_json,
            current_round=0,
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()
    if rows:
        await session.execute(insert(BatchEssay), rows)
        await refresh_statistics(session, BatchEssay, added=len(rows))
    return await require_batch(session, batch_id)


def _record(row: Batch) -> BatchRecord:
    return record_from_row(BatchRecord, row, status=cast(BatchStatus, row.status))


async def get_batch(session: AsyncSession, batch_id: str) -> BatchRecord | None:
    """The batch, or None (also for a malformed id)."""
    row = await session.get(Batch, batch_id, populate_existing=True)
    return None if row is None else _record(row)


async def require_batch(session: AsyncSession, batch_id: str) -> BatchRecord:
    """The batch, or :class:`NotFound`."""
    record = await get_batch(session, batch_id)
    if record is None:
        raise NotFound(f"unknown batch {batch_id!r}")
    return record


async def list_batches(
    session: AsyncSession,
    *,
    status: BatchStatus | Iterable[BatchStatus] | None = None,
    label: str | None = None,
    limit: int = 100,
) -> list[BatchRecord]:
    """Newest first, optionally filtered by status(es) and label."""
    stmt = select(Batch).order_by(Batch.created_at.desc(), Batch.id).limit(limit)
    if status is not None:
        stmt = stmt.where(Batch.status.in_([status] if isinstance(status, str) else list(status)))
    if label is not None:
        stmt = stmt.where(Batch.label == label)
    return [_record(r) for r in await session.scalars(stmt)]


async def count_batches(
    session: AsyncSession, *, status: BatchStatus | Iterable[BatchStatus] | None = None
) -> int:
    """How many batches there are (optionally with these statuses)."""
    stmt = select(func.count()).select_from(Batch)
    if status is not None:
        stmt = stmt.where(Batch.status.in_([status] if isinstance(status, str) else list(status)))
    return int(await session.scalar(stmt) or 0)


async def list_resumable_batches(session: AsyncSession) -> list[BatchRecord]:
    """Unfinished batches whose lease is free or expired: what a restarted engine picks up."""
    now = utcnow()
    stmt = (
        select(Batch)
        .where(Batch.status.in_(["created", "running", "finalising"]))
        .where(or_(Batch.lease_owner.is_(None), Batch.lease_expires_at < now))
        .order_by(Batch.created_at, Batch.id)
    )
    return [_record(r) for r in await session.scalars(stmt)]


async def set_batch_status(
    session: AsyncSession,
    batch_id: str,
    status: BatchStatus,
    *,
    failure_reason: str | None = None,
) -> BatchRecord:
    """Move a batch forward (see ``TRANSITIONS``); setting the current status is a no-op.

    Terminal statuses set ``finished_at`` and release the lease. ``failed`` needs a reason.
    """
    row = await session.get(Batch, batch_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"unknown batch {batch_id!r}")
    if status not in TRANSITIONS:
        raise InputError(f"unknown batch status {status!r}")
    if row.status == status:
        return _record(row)
    if status not in TRANSITIONS[row.status]:
        raise StorageError(f"batch {batch_id} cannot go from {row.status} to {status}")
    if status == "failed" and not failure_reason:
        raise InputError("a failed batch needs a failure reason")
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if failure_reason is not None:
        values["failure_reason"] = failure_reason
    if status in ("completed", "failed", "cancelled"):
        values.update(finished_at=now, lease_owner=None, lease_expires_at=None)
    result = await session.execute(  # compare-and-set: SQLite ignores FOR UPDATE
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == row.status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise StorageError(f"batch {batch_id} changed status concurrently; reload and retry")
    return await require_batch(session, batch_id)


async def advance_round(session: AsyncSession, batch_id: str, round_: int) -> BatchRecord:
    """Record that ``round_`` has started; rounds only move forward (re-setting is a no-op).
    A finished or cancelled batch starts no round (:class:`StorageError`)."""
    row = await session.get(Batch, batch_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"unknown batch {batch_id!r}")
    if row.status in ("completed", "failed", "cancelled"):
        # A cancelled batch (``POST /v1/batches/{id}/cancel``) requests no further round.
        raise StorageError(f"batch {batch_id} is {row.status}: no further round is requested")
    if round_ < row.current_round:
        raise StorageError(f"batch {batch_id} is at round {row.current_round}, not {round_}")
    row.current_round = round_
    row.updated_at = utcnow()
    await session.flush()
    return _record(row)


async def claim_batch(
    session: AsyncSession, batch_id: str, owner: str, ttl_s: float = 60.0
) -> bool:
    """Take or renew the batch's lease for ``owner``; False when another live owner holds it.

    Call again before ``ttl_s`` runs out to keep it. Timestamps come from this process's clock.
    """
    now = utcnow()
    result = await session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .where(Batch.status.in_(["created", "running", "finalising"]))
        .where(
            or_(
                Batch.lease_owner.is_(None),
                Batch.lease_owner == owner,
                Batch.lease_expires_at < now,
            )
        )
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=ttl_s))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def release_batch(session: AsyncSession, batch_id: str, owner: str) -> bool:
    """Give the lease back (only the holder can)."""
    result = await session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def _essay_record(row: BatchEssay) -> BatchEssayRecord:
    return record_from_row(BatchEssayRecord, row)


async def list_batch_essays(session: AsyncSession, batch_id: str) -> list[BatchEssayRecord]:
    """The batch's essays ordered by ``position``; texts via ``get_texts`` on content ids."""
    stmt = (
        select(BatchEssay)
        .where(BatchEssay.batch_id == batch_id)
        .order_by(BatchEssay.position)
        .execution_options(populate_existing=True)
    )
    return [_essay_record(r) for r in await session.scalars(stmt)]


async def update_essay_estimates(
    session: AsyncSession,
    batch_id: str,
    estimates: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """Store current ``{essay_id: (theta, se)}`` and recount comparisons and wins.

    Counts come from the batch's succeeded comparisons: ``n_wins`` adds ``p_a`` to essay A and
    ``1 - p_a`` to essay B, so soft outcomes count fractionally. They are summed in the
    database (one grouped row per essay and slot, not one row per comparison): the engine
    calls this after every round, and a 2,000-essay batch has 40,000 comparisons by the end.
    """
    essays = set(
        await session.scalars(select(BatchEssay.essay_id).where(BatchEssay.batch_id == batch_id))
    )
    unknown = sorted(set(estimates or {}) - essays)
    if unknown:
        raise InputError(f"essays {unknown[:5]} are not in batch {batch_id}")
    counts = dict.fromkeys(essays, 0)
    wins = dict.fromkeys(essays, 0.0)
    succeeded = (Comparison.batch_id == batch_id, Comparison.status == "succeeded")
    p_a = func.coalesce(Comparison.p_a, 0.0)  # always set on succeeded rows
    for essay, won in ((Comparison.essay_a, p_a), (Comparison.essay_b, 1.0 - p_a)):
        grouped = await session.execute(
            select(essay, func.count(), func.sum(won)).where(*succeeded).group_by(essay)
        )
        for essay_id, n, total in grouped.all():
            counts[essay_id] += int(n)
            wins[essay_id] += float(total or 0.0)
    # Core executemany (one statement, a parameter set per essay), grouped by the columns set:
    # the ORM's bulk update by primary key costs more per row than the database does.
    table = cast(Table, BatchEssay.__table__)
    groups: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for essay_id in sorted(essays):
        value: dict[str, Any] = {"k_essay": essay_id, "n_comparisons": counts[essay_id],
                                 "n_wins": wins[essay_id]}
        estimate = (estimates or {}).get(essay_id)
        if estimate is not None:
            value["theta"], value["se"] = (float(x) for x in estimate)
        groups[estimate is not None].append(value)
    for rows in groups.values():
        if rows:  # the SET clause is the parameter sets' other keys
            await session.execute(
                update(table).where(table.c.batch_id == batch_id,
                                    table.c.essay_id == bindparam("k_essay")),
                rows,
            )
