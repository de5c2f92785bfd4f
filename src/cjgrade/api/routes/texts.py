"""``/admin/v1/student-prompts`` and ``/admin/v1/judge-rubrics``: texts linked to assignments.

Both are stored in the content store (SHA-256 ids) and linked to an existing assignment;
uploading again replaces the link.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cjgrade.api.auth import ADMIN_ONLY, ANY_ROLE, Principal
from cjgrade.api.errors import NotFound
from cjgrade.api.routes._common import AssignmentPath, store_of
from cjgrade.api.schemas import RubricIn, StoredText, StudentPromptIn
from cjgrade.store import assignments

router = APIRouter(tags=["student prompts and judge rubrics"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown assignment, or no text linked yet"}
}


@router.post(
    "/admin/v1/student-prompts",
    response_model=StoredText,
    summary="Store the student prompt of an assignment (role: admin)",
    responses=_NOT_FOUND,
)
async def upload_student_prompt(
    body: StudentPromptIn, request: Request, _: Principal = Depends(ADMIN_ONLY)
) -> StoredText:
    async with store_of(request).transaction() as session:
        record = await assignments.set_student_prompt(session, body.assignment_id, body.prompt_text)
    assert record.student_prompt_id is not None and record.student_prompt is not None
    return StoredText(
        assignment_id=record.id, storage_id=record.student_prompt_id, text=record.student_prompt
    )


@router.get(
    "/admin/v1/student-prompts/assignment/{assignment_id}",
    response_model=StoredText,
    summary="The student prompt of an assignment (roles: admin, runner, read)",
    responses=_NOT_FOUND,
)
async def get_student_prompt(
    request: Request, assignment_id: str = AssignmentPath, _: Principal = Depends(ANY_ROLE)
) -> StoredText:
    async with store_of(request).transaction() as session:
        record = await assignments.require_assignment(session, assignment_id)
    if record.student_prompt_id is None or record.student_prompt is None:
        raise NotFound(
            f"assignment {record.id!r} has no student prompt; upload one with "
            f"`cjgrade admin prompts upload --assignment-id {record.id} --file PROMPT.txt`"
        )
    return StoredText(
        assignment_id=record.id, storage_id=record.student_prompt_id, text=record.student_prompt
    )


@router.post(
    "/admin/v1/judge-rubrics",
    response_model=StoredText,
    summary="Store the judge rubric of an assignment (role: admin)",
    responses=_NOT_FOUND,
)
async def upload_judge_rubric(
    body: RubricIn, request: Request, _: Principal = Depends(ADMIN_ONLY)
) -> StoredText:
    async with store_of(request).transaction() as session:
        record = await assignments.set_judge_rubric(session, body.assignment_id, body.rubric_text)
    assert record.judge_rubric_id is not None and record.judge_rubric is not None
    return StoredText(
        assignment_id=record.id, storage_id=record.judge_rubric_id, text=record.judge_rubric
    )


@router.get(
    "/admin/v1/judge-rubrics/assignment/{assignment_id}",
    response_model=StoredText,
    summary="The judge rubric of an assignment (roles: admin, runner, read)",
    responses=_NOT_FOUND,
)
async def get_judge_rubric(
    request: Request, assignment_id: str = AssignmentPath, _: Principal = Depends(ANY_ROLE)
) -> StoredText:
    async with store_of(request).transaction() as session:
        record = await assignments.require_assignment(session, assignment_id)
    if record.judge_rubric_id is None or record.judge_rubric is None:
        raise NotFound(
            f"assignment {record.id!r} has no judge rubric; upload one with "
            f"`cjgrade admin rubrics upload --assignment-id {record.id} --file RUBRIC.txt`"
        )
    return StoredText(
        assignment_id=record.id, storage_id=record.judge_rubric_id, text=record.judge_rubric
    )
