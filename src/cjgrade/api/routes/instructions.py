"""``/admin/v1/assessment-instructions``: upsert, list, get and delete assignments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from cjgrade.api.auth import ADMIN_ONLY, ANY_ROLE, Principal
from cjgrade.api.errors import NotFound
from cjgrade.api.routes._common import AssignmentPath, instruction_out, store_of
from cjgrade.api.schemas import (
    ID_PATTERN,
    NO_NUL_PATTERN,
    InstructionIn,
    InstructionOut,
    InstructionPage,
)
from cjgrade.errors import InputError
from cjgrade.store import assignments, content

router = APIRouter(tags=["assessment instructions"])

MAX_PAGE = 1_000_000


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1
    page_size: Annotated[int, Field(ge=1, le=200)] = 50
    grade_scale: Annotated[
        str | None, Field(min_length=1, max_length=64, pattern=NO_NUL_PATTERN)
    ] = None
    name: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=100,
            pattern=ID_PATTERN,
            description="Only the assignment with this name (slug): the way to find by name.",
        ),
    ] = None


@router.post(
    "/admin/v1/assessment-instructions",
    response_model=InstructionOut,
    status_code=status.HTTP_200_OK,
    summary="Create or replace an assignment's instructions (role: admin)",
    responses={
        201: {"model": InstructionOut, "description": "Created"},
        404: {"description": "student_prompt_storage_id names no stored text"},
        409: {"description": "Grade scale locked by anchors/batches, or name taken"},
    },
)
async def upsert_instructions(
    body: InstructionIn,
    request: Request,
    response: Response,
    _: Principal = Depends(ADMIN_ONLY),
) -> InstructionOut:
    """Upsert by ``assignment_id``: 201 when created, 200 when replaced. The grade scale must
    exist and cannot change once anchors or batches use the assignment (409)."""
    store = store_of(request)
    async with store.transaction() as session:
        prompt_text = None
        if body.student_prompt_storage_id is not None:
            # An unknown id is the store's NotFound: 404, the referenced text does not exist.
            prompt_text = await content.get_text(session, body.student_prompt_storage_id)
            if len(prompt_text.strip()) < 10:
                raise InputError(
                    "student_prompt_storage_id names a text shorter than 10 characters; "
                    "a student prompt needs at least 10"
                )
        # A locked grade scale or a taken name is the store's ConflictError: 409.
        record, created = await assignments.upsert_assignment(
            session,
            body.assignment_id,
            instructions=body.instructions_text,
            grade_scale=body.grade_scale,
            name=body.name,
            context_origin=body.context_origin,
            student_prompt=prompt_text,
        )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return instruction_out(record)


@router.get(
    "/admin/v1/assessment-instructions",
    response_model=InstructionPage,
    summary="List assignments, paged, optionally by grade scale or name (roles: admin, runner, "
    "read)",
)
async def list_instructions(
    request: Request,
    query: Annotated[ListQuery, Query()],
    _: Principal = Depends(ANY_ROLE),
) -> InstructionPage:
    """Unknown query parameters are refused (422), so a misspelt ``page_size`` is not
    silently ignored. ``name=`` finds an assignment by its name (the ``/assignment/{id}``
    routes take ids only)."""
    async with store_of(request).transaction() as session:
        records, total = await assignments.list_assignments(
            session,
            grade_scale=query.grade_scale,
            name=query.name,
            page=query.page,
            page_size=query.page_size,
        )
    return InstructionPage(
        items=[instruction_out(r) for r in records],
        total=total,
        page=query.page,
        page_size=query.page_size,
    )


@router.get(
    "/admin/v1/assessment-instructions/assignment/{assignment_id}",
    response_model=InstructionOut,
    summary="One assignment by id (roles: admin, runner, read)",
    responses={404: {"description": "Unknown assignment"}},
)
async def get_instructions(
    request: Request,
    assignment_id: str = AssignmentPath,
    _: Principal = Depends(ANY_ROLE),
) -> InstructionOut:
    async with store_of(request).transaction() as session:
        record = await assignments.require_assignment(session, assignment_id)
    return instruction_out(record)


@router.delete(
    "/admin/v1/assessment-instructions/assignment/{assignment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete an assignment and its anchors (role: admin)",
    responses={
        404: {"description": "Unknown assignment"},
        409: {"description": "Batches reference the assignment"},
    },
)
async def delete_instructions(
    request: Request,
    assignment_id: str = AssignmentPath,
    _: Principal = Depends(ADMIN_ONLY),
) -> Response:
    async with store_of(request).transaction() as session:
        # By id only: a name may equal another assignment's id, and a retried DELETE must not
        # delete that one. Batches still using it: the store's ConflictError, 409.
        deleted = await assignments.delete_assignment(session, assignment_id)
        named = None
        if not deleted:
            named = await assignments.get_assignment_by_name(session, assignment_id)
    if named is not None:
        raise NotFound(
            f"no assignment has the id {assignment_id!r} (it is the name of assignment "
            f"{named.id!r}; names are not resolved here, so nothing was deleted); delete by id: "
            f"`cjgrade admin instructions delete {named.id}`"
        )
    if not deleted:
        raise NotFound(
            f"unknown assignment {assignment_id!r} (already deleted?); list them with "
            "`cjgrade admin instructions list`"
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
