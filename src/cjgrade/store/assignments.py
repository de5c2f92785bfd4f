"""Assignments ("assessment instructions"): the texts and the grade scale a batch is graded by.

Semantics follow the original admin API (upsert by id) with two guarantees added: the grade
scale of an assignment cannot change once anchors or batches reference it, and a
``canonical_national`` assignment refuses judge-rubric overrides (:func:`check_rubric_override`).
"""

from __future__ import annotations

import re
from typing import Any, cast, get_args

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from cjgrade.errors import ConflictError, InputError
from cjgrade.store._scales import check_scale
from cjgrade.store.content import put_text
from cjgrade.store.models import Anchor, Assignment, Batch, Content, utcnow
from cjgrade.store.records import AssignmentRecord, ContextOrigin, NotFound

__all__ = [
    "check_rubric_override",
    "delete_assignment",
    "get_assignment",
    "get_assignment_by_name",
    "list_assignments",
    "require_assignment",
    "set_judge_rubric",
    "set_student_prompt",
    "upsert_assignment",
    "validate_assignment_id",
]

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
MAX_PAGE_SIZE = 200


def validate_assignment_id(assignment_id: str) -> str:
    """An id is 1-100 characters of letters, digits and ``. _ : -`` (UUIDs and slugs fit)."""
    if not isinstance(assignment_id, str) or not _ID_RE.match(assignment_id):
        raise InputError(
            f"assignment id {assignment_id!r} is invalid: use 1-100 letters, digits, '.', '_', "
            "':' or '-' (a UUID or a slug such as np_2017_vt)"
        )
    return assignment_id


def _validate_origin(origin: str) -> ContextOrigin:
    allowed = get_args(ContextOrigin)
    if origin not in allowed:
        raise InputError(f"context origin {origin!r} is invalid; use one of {', '.join(allowed)}")
    return cast(ContextOrigin, origin)


async def upsert_assignment(
    session: AsyncSession,
    assignment_id: str,
    *,
    instructions: str | bytes,
    grade_scale: str,
    name: str | None = None,
    context_origin: str = "research_experiment",
    student_prompt: str | bytes | None = None,
    judge_rubric: str | bytes | None = None,
) -> tuple[AssignmentRecord, bool]:
    """Create or replace an assignment; returns ``(record, created)``.

    ``student_prompt`` / ``judge_rubric`` left as None keep the stored ones on update.
    Everything is validated before anything is written.
    """
    validate_assignment_id(assignment_id)
    origin = _validate_origin(context_origin)
    check_scale(session, grade_scale)
    if name is not None and not name.strip():
        raise InputError("assignment name must not be blank (omit it instead)")
    row = await session.get(Assignment, assignment_id, with_for_update=True)
    if row is not None and row.grade_scale != grade_scale:
        await _refuse_scale_change(session, row, grade_scale)
    if name is not None:
        await _check_name_free(session, name, assignment_id)
    instructions_id = await put_text(session, instructions, "instructions")
    prompt_id = (
        None
        if student_prompt is None
        else await put_text(session, student_prompt, "student prompt")
    )
    rubric_id = (
        None if judge_rubric is None else await put_text(session, judge_rubric, "judge rubric")
    )
    now = utcnow()
    created = row is None
    if row is None:
        row = Assignment(id=assignment_id, created_at=now)
        session.add(row)
    row.name = name if name is not None else row.name
    row.instructions_id = instructions_id
    row.grade_scale = grade_scale
    row.context_origin = origin
    row.student_prompt_id = prompt_id or row.student_prompt_id
    row.judge_rubric_id = rubric_id or row.judge_rubric_id
    row.updated_at = now
    await session.flush()
    return await require_assignment(session, assignment_id), created


async def _refuse_scale_change(session: AsyncSession, row: Assignment, new_scale: str) -> None:
    n_anchors = await session.scalar(
        select(func.count()).select_from(Anchor).where(Anchor.assignment_id == row.id)
    )
    n_batches = await session.scalar(
        select(func.count()).select_from(Batch).where(Batch.assignment_id == row.id)
    )
    if n_anchors or n_batches:
        raise ConflictError(
            f"assignment {row.id!r} is graded on {row.grade_scale!r} and {n_anchors} anchor(s) "
            f"and {n_batches} batch(es) use it, so the scale cannot become {new_scale!r}; "
            "create a new assignment for the new scale"
        )


async def _check_name_free(session: AsyncSession, name: str, assignment_id: str) -> None:
    owner = await session.scalar(select(Assignment.id).where(Assignment.name == name))
    if owner is not None and owner != assignment_id:
        raise ConflictError(
            f"assignment name {name!r} is already used by assignment {owner!r}; choose another "
            "name or update that assignment"
        )


async def set_student_prompt(
    session: AsyncSession, assignment_id: str, text: str | bytes
) -> AssignmentRecord:
    """Store a student prompt and link it to an existing assignment (by id)."""
    return await _set_text(session, assignment_id, "student_prompt_id", text, "student prompt")


async def set_judge_rubric(
    session: AsyncSession, assignment_id: str, text: str | bytes
) -> AssignmentRecord:
    """Store a judge rubric and link it to an existing assignment (by id)."""
    return await _set_text(session, assignment_id, "judge_rubric_id", text, "judge rubric")


async def _set_text(
    session: AsyncSession, assignment_id: str, column: str, text: str | bytes, what: str
) -> AssignmentRecord:
    await require_assignment(session, assignment_id)  # NotFound with a hint
    row = await session.get(Assignment, assignment_id, with_for_update=True)
    assert row is not None
    setattr(row, column, await put_text(session, text, what))
    row.updated_at = utcnow()
    await session.flush()
    return await require_assignment(session, assignment_id)


def _not_found(assignment_id: str, owner: str | None = None) -> NotFound:
    if owner is not None:
        return NotFound(
            f"unknown assignment id {assignment_id!r}: that is the name of assignment "
            f"{owner!r}; use its id (names are not resolved, so an id and another assignment's "
            "name can never be confused)"
        )
    return NotFound(
        f"unknown assignment {assignment_id!r}; create it with "
        "`cjgrade admin instructions create --assignment-id ...`"
    )


def _select_records() -> Any:  # a Select of (Assignment, text, text, text)
    instr = aliased(Content)
    prompt = aliased(Content)
    rubric = aliased(Content)
    return (
        select(Assignment, instr.text, prompt.text, rubric.text)
        .join(instr, instr.id == Assignment.instructions_id)
        .outerjoin(prompt, prompt.id == Assignment.student_prompt_id)
        .outerjoin(rubric, rubric.id == Assignment.judge_rubric_id)
    )


def _record(
    row: Assignment, instructions: str, prompt: str | None, rubric: str | None
) -> AssignmentRecord:
    return AssignmentRecord(
        id=row.id,
        name=row.name,
        grade_scale=row.grade_scale,
        context_origin=cast(ContextOrigin, row.context_origin),
        instructions_id=row.instructions_id,
        instructions=instructions,
        student_prompt_id=row.student_prompt_id,
        student_prompt=prompt,
        judge_rubric_id=row.judge_rubric_id,
        judge_rubric=rubric,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def get_assignment(session: AsyncSession, assignment_id: str) -> AssignmentRecord | None:
    """The assignment with this id, or None. Names are never resolved here: an assignment's
    name may equal another assignment's id, and a lookup that accepted both could act on the
    wrong one (a retried DELETE deleting another assignment). Find by name with
    :func:`get_assignment_by_name`."""
    row = (await session.execute(_select_records().where(Assignment.id == assignment_id))).first()
    return None if row is None else _record(*row)


async def get_assignment_by_name(session: AsyncSession, name: str) -> AssignmentRecord | None:
    """The assignment whose name (slug) is ``name``, or None."""
    row = (await session.execute(_select_records().where(Assignment.name == name))).first()
    return None if row is None else _record(*row)


async def require_assignment(session: AsyncSession, assignment_id: str) -> AssignmentRecord:
    """Like :func:`get_assignment` but raises :class:`NotFound` with a hint to create it (or,
    when ``assignment_id`` is some assignment's name, to use that assignment's id)."""
    record = await get_assignment(session, assignment_id)
    if record is None:
        owner = await session.scalar(select(Assignment.id).where(Assignment.name == assignment_id))
        raise _not_found(assignment_id, owner)
    return record


async def list_assignments(
    session: AsyncSession,
    *,
    grade_scale: str | None = None,
    name: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[AssignmentRecord], int]:
    """One page of assignments ordered by id, and the total count (after the filters: grade
    scale, name)."""
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InputError(f"page must be >= 1 and page_size between 1 and {MAX_PAGE_SIZE}")
    count = select(func.count()).select_from(Assignment)
    stmt = _select_records().order_by(Assignment.id)
    for column, value in ((Assignment.grade_scale, grade_scale), (Assignment.name, name)):
        if value is not None:
            count = count.where(column == value)
            stmt = stmt.where(column == value)
    total = int(await session.scalar(count) or 0)
    rows = (await session.execute(stmt.offset((page - 1) * page_size).limit(page_size))).all()
    return [_record(*r) for r in rows], total


async def delete_assignment(session: AsyncSession, assignment_id: str) -> bool:
    """Delete an assignment (by id, never by name) and its anchors; refuses while batches
    use it.

    Returns False when there was nothing to delete, so a retried delete deletes nothing else.
    """
    row = await session.get(Assignment, assignment_id, with_for_update=True)
    if row is None:
        return False
    n_batches = await session.scalar(
        select(func.count()).select_from(Batch).where(Batch.assignment_id == assignment_id)
    )
    if n_batches:
        raise ConflictError(
            f"assignment {assignment_id!r} is used by {n_batches} batch(es) and cannot be deleted"
        )
    await session.execute(delete(Anchor).where(Anchor.assignment_id == assignment_id))
    result = await session.execute(delete(Assignment).where(Assignment.id == assignment_id))
    return bool(getattr(result, "rowcount", 0))


def check_rubric_override(assignment: AssignmentRecord | None, override: str | None) -> None:
    """Refuse a judge-rubric override for a ``canonical_national`` assignment.

    Research assignments and batches without an assignment accept overrides.
    """
    if override is None or assignment is None:
        return
    if assignment.context_origin == "canonical_national":
        raise InputError(
            f"assignment {assignment.id!r} is canonical_national: its judge rubric cannot be "
            "overridden; drop the rubric override or use a research_experiment assignment"
        )
