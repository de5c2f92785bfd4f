"""Anchor essays: expert-graded texts registered per assignment.

Unique on ``(assignment, label, grade scale)``; registering the same label again replaces the
grade and text (upsert), so re-running a registration script is safe. The grade is validated
against the assignment's scale, which is copied onto the anchor row.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.errors import InputError
from cjgrade.store._scales import check_grade
from cjgrade.store._sql import upsert
from cjgrade.store.assignments import require_assignment
from cjgrade.store.content import put_text
from cjgrade.store.models import Anchor, utcnow
from cjgrade.store.records import AnchorRecord, AnchorSummary, record_from_row

__all__ = [
    "count_anchors_by_scale",
    "delete_anchor",
    "list_anchors",
    "register_anchor",
    "summarise_anchors",
]


async def register_anchor(
    session: AsyncSession,
    assignment_id: str,
    *,
    grade: str,
    text: str | bytes,
    label: str | None = None,
) -> tuple[AnchorRecord, bool]:
    """Upsert an anchor; returns ``(record, created)``.

    ``label`` defaults to ``<grade>-<first 12 hex of the text's SHA-256>``. Raises
    :class:`~cjgrade.store.records.NotFound` for an unknown assignment and
    :class:`InputError` for a grade not on the assignment's scale or an empty/non-UTF-8 text.
    """
    assignment = await require_assignment(session, assignment_id)
    grade = check_grade(session, assignment.grade_scale, grade)
    if label is not None and (not label.strip() or len(label) > 200):
        raise InputError("anchor label must be 1-200 characters (or omitted)")
    content_id = await put_text(session, text, "anchor text")
    label = label if label is not None else f"{grade}-{content_id[:12]}"
    key = {"assignment_id": assignment.id, "label": label, "grade_scale": assignment.grade_scale}
    existed = await session.scalar(select(Anchor.id).filter_by(**key))
    now = utcnow()
    row = await upsert(
        session,
        Anchor,
        {**key, "grade": grade, "content_id": content_id, "created_at": now, "updated_at": now},
        conflict=list(key),
        update=["grade", "content_id", "updated_at"],
        returning=[Anchor],
    )
    return _record(row[0]), existed is None


def _record(row: Anchor) -> AnchorRecord:
    return record_from_row(AnchorRecord, row)


async def list_anchors(
    session: AsyncSession, assignment_id: str, grade_scale: str | None = None
) -> list[AnchorRecord]:
    """An assignment's anchors (optionally one scale's), ordered by label."""
    stmt = select(Anchor).where(Anchor.assignment_id == assignment_id)
    if grade_scale is not None:
        stmt = stmt.where(Anchor.grade_scale == grade_scale)
    rows = await session.scalars(stmt.order_by(Anchor.label, Anchor.id))
    return [_record(r) for r in rows]


async def count_anchors_by_scale(session: AsyncSession, assignment_id: str) -> dict[str, int]:
    """``{grade_scale: count}`` for one assignment."""
    rows = await session.execute(
        select(Anchor.grade_scale, func.count())
        .where(Anchor.assignment_id == assignment_id)
        .group_by(Anchor.grade_scale)
    )
    return {scale: int(n) for scale, n in rows.all()}


async def summarise_anchors(session: AsyncSession, assignment_id: str) -> AnchorSummary:
    """The admin view: anchors in the assignment's scale plus counts for every scale."""
    assignment = await require_assignment(session, assignment_id)
    anchors = await list_anchors(session, assignment.id, assignment.grade_scale)
    by_scale = await count_anchors_by_scale(session, assignment.id)
    return AnchorSummary(
        assignment_id=assignment.id,
        grade_scale=assignment.grade_scale,
        anchor_count=len(anchors),
        anchor_count_total=sum(by_scale.values()),
        anchor_count_by_scale=by_scale,
        anchors=tuple(anchors),
    )


async def delete_anchor(session: AsyncSession, anchor_id: int) -> bool:
    """Delete one anchor; False when it did not exist."""
    result = await session.execute(delete(Anchor).where(Anchor.id == anchor_id))
    return bool(getattr(result, "rowcount", 0))
