"""``/admin/v1/student-prompts`` and ``/admin/v1/judge-rubrics``: texts linked to assignments.

Both are stored in the content store (SHA-256 ids) and linked to an existing assignment;
uploading again replaces the link.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request

from cjgrade.api.auth import ADMIN_ONLY, ANY_ROLE, Principal
from cjgrade.api.errors import NotFound
from cjgrade.api.routes._common import AssignmentPath, store_of
from cjgrade.api.schemas import RubricIn, StoredText, StudentPromptIn
from cjgrade.store import assignments
from cjgrade.store.records import AssignmentRecord

router = APIRouter(tags=["student prompts and judge rubrics"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown assignment, or no text linked yet"}
}
Setter = Callable[[Any, str, str], Awaitable[AssignmentRecord]]


@dataclass(frozen=True)
class _TextKind:
    """One kind of assignment text and where it lives on the assignment record."""

    what: str  # "student prompt"
    path: str  # "/admin/v1/student-prompts"
    attribute: str  # record attribute of the text ("student_prompt"; its id has "_id")
    cli: str  # the admin CLI group that uploads it
    setter: Setter

    def stored(self, record: AssignmentRecord) -> StoredText | None:
        storage_id = getattr(record, f"{self.attribute}_id")
        text = getattr(record, self.attribute)
        if storage_id is None or text is None:
            return None
        return StoredText(assignment_id=record.id, storage_id=storage_id, text=text)

    def missing(self, record: AssignmentRecord) -> NotFound:
        return NotFound(
            f"assignment {record.id!r} has no {self.what}; upload one with "
            f"`cjgrade admin {self.cli} upload --assignment-id {record.id} --file FILE.txt`"
        )


PROMPT = _TextKind(
    "student prompt",
    "/admin/v1/student-prompts",
    "student_prompt",
    "prompts",
    assignments.set_student_prompt,
)
RUBRIC = _TextKind(
    "judge rubric",
    "/admin/v1/judge-rubrics",
    "judge_rubric",
    "rubrics",
    assignments.set_judge_rubric,
)


async def _store_text(
    request: Request, kind: _TextKind, assignment_id: str, text: str
) -> StoredText:
    async with store_of(request).transaction() as session:
        record = await kind.setter(session, assignment_id, text)
    stored = kind.stored(record)
    assert stored is not None  # just linked
    return stored


async def _read_text(request: Request, kind: _TextKind, assignment_id: str) -> StoredText:
    async with store_of(request).transaction() as session:
        record = await assignments.require_assignment(session, assignment_id)
    stored = kind.stored(record)
    if stored is None:
        raise kind.missing(record)
    return stored


@router.post(
    PROMPT.path,
    response_model=StoredText,
    summary="Store the student prompt of an assignment (role: admin)",
    responses=_NOT_FOUND,
)
async def upload_student_prompt(
    body: StudentPromptIn, request: Request, _: Principal = Depends(ADMIN_ONLY)
) -> StoredText:
    return await _store_text(request, PROMPT, body.assignment_id, body.prompt_text)


@router.get(
    PROMPT.path + "/assignment/{assignment_id}",
    response_model=StoredText,
    summary="The student prompt of an assignment (roles: admin, runner, read)",
    responses=_NOT_FOUND,
)
async def get_student_prompt(
    request: Request, assignment_id: str = AssignmentPath, _: Principal = Depends(ANY_ROLE)
) -> StoredText:
    return await _read_text(request, PROMPT, assignment_id)


@router.post(
    RUBRIC.path,
    response_model=StoredText,
    summary="Store the judge rubric of an assignment (role: admin)",
    responses=_NOT_FOUND,
)
async def upload_judge_rubric(
    body: RubricIn, request: Request, _: Principal = Depends(ADMIN_ONLY)
) -> StoredText:
    return await _store_text(request, RUBRIC, body.assignment_id, body.rubric_text)


@router.get(
    RUBRIC.path + "/assignment/{assignment_id}",
    response_model=StoredText,
    summary="The judge rubric of an assignment (roles: admin, runner, read)",
    responses=_NOT_FOUND,
)
async def get_judge_rubric(
    request: Request, assignment_id: str = AssignmentPath, _: Principal = Depends(ANY_ROLE)
) -> StoredText:
    return await _read_text(request, RUBRIC, assignment_id)
