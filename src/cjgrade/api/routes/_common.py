"""Helpers shared by the routers: the store and mapping store records to responses."""

from __future__ import annotations

from typing import Any

from fastapi import Path, Request

from cjgrade.api.schemas import ID_PATTERN, AnchorOut, InstructionOut

__all__ = ["AssignmentPath", "anchor_out", "instruction_out", "store_of"]

AssignmentPath = Path(
    min_length=1,
    max_length=100,
    pattern=ID_PATTERN,
    description=(
        "Assignment id (never its name: find by name with GET "
        "/admin/v1/assessment-instructions?name=...): 1-100 of A-Z a-z 0-9 . _ : - (first a "
        "letter or digit)."
    ),
)


def store_of(request: Request) -> Any:
    """The app's open :class:`cjgrade.store.database.Store`."""
    return request.app.state.store


def instruction_out(record: Any) -> InstructionOut:
    return InstructionOut(
        assignment_id=record.id,
        name=record.name,
        instructions_text=record.instructions,
        instructions_storage_id=record.instructions_id,
        grade_scale=record.grade_scale,
        context_origin=record.context_origin,
        student_prompt_storage_id=record.student_prompt_id,
        judge_rubric_storage_id=record.judge_rubric_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def anchor_out(record: Any) -> AnchorOut:
    return AnchorOut(
        id=record.id,
        assignment_id=record.assignment_id,
        anchor_label=record.label,
        grade=record.grade,
        grade_scale=record.grade_scale,
        text_storage_id=record.content_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )
