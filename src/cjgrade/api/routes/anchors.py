"""``/admin/v1/anchors``: register anchor essays and summarise an assignment's anchors."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status

from cjgrade.api.auth import ANY_ROLE, UPLOADERS, Principal
from cjgrade.api.routes._common import AssignmentPath, anchor_out, store_of
from cjgrade.api.schemas import AnchorRegister, AnchorRegistered, AnchorSummary
from cjgrade.store import anchors

router = APIRouter(tags=["anchors"])


@router.post(
    "/admin/v1/anchors/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AnchorRegistered,
    summary="Register or replace an anchor essay (roles: admin, runner)",
    responses={404: {"description": "Unknown assignment"}},
)
async def register_anchor(
    body: AnchorRegister,
    request: Request,
    _: Principal = Depends(UPLOADERS),
) -> AnchorRegistered:
    """Upsert on (assignment, label, the assignment's grade scale). The grade must be on the
    assignment's scale (422 otherwise). Always 201, as in the original; ``status`` says
    ``registered`` for a new anchor and ``updated`` when the label existed (grade and text
    replaced)."""
    async with store_of(request).transaction() as session:
        record, created = await anchors.register_anchor(
            session,
            body.assignment_id,
            grade=body.grade,
            text=body.essay_text,
            label=body.anchor_label,
        )
    return AnchorRegistered(
        anchor_id=record.id,
        storage_id=record.content_id,
        grade_scale=record.grade_scale,
        status="registered" if created else "updated",
    )


@router.get(
    "/admin/v1/anchors/assignment/{assignment_id}",
    response_model=AnchorSummary,
    summary="An assignment's anchors and counts by scale (roles: admin, runner, read)",
    responses={404: {"description": "Unknown assignment"}},
)
async def read_anchor_summary(
    request: Request, assignment_id: str = AssignmentPath, _: Principal = Depends(ANY_ROLE)
) -> AnchorSummary:
    async with store_of(request).transaction() as session:
        summary = await anchors.summarise_anchors(session, assignment_id)
    return AnchorSummary(
        assignment_id=summary.assignment_id,
        grade_scale=summary.grade_scale,
        anchor_count=summary.anchor_count,
        anchor_count_total=summary.anchor_count_total,
        anchor_count_by_scale=dict(summary.anchor_count_by_scale),
        anchors=[anchor_out(a) for a in summary.anchors],
    )
