"""Frozen values returned by the repository functions (never live ORM objects, so nothing
lazy-loads after a session has closed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cjgrade.errors import InputError

__all__ = [
    "AnchorRecord",
    "AnchorSummary",
    "AssignmentRecord",
    "ContextOrigin",
    "NotFound",
    "TokenRecord",
    "TokenRole",
]

ContextOrigin = Literal["research_experiment", "canonical_national"]
TokenRole = Literal["admin", "runner", "read"]


class NotFound(InputError):
    """The addressed row (assignment, anchor, batch, token, content) does not exist.

    The API maps it to 404; the message says which command creates the missing thing."""


@dataclass(frozen=True)
class AssignmentRecord:
    """Assessment instructions with the texts they reference."""

    id: str
    name: str | None
    grade_scale: str
    context_origin: ContextOrigin
    instructions_id: str
    instructions: str
    student_prompt_id: str | None
    student_prompt: str | None
    judge_rubric_id: str | None
    judge_rubric: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AnchorRecord:
    id: int
    assignment_id: str
    label: str
    grade: str
    grade_scale: str
    content_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AnchorSummary:
    """An assignment's anchors: ``anchor_count`` counts only the assignment's own scale."""

    assignment_id: str
    grade_scale: str
    anchor_count: int
    anchor_count_total: int
    anchor_count_by_scale: Mapping[str, int]
    anchors: tuple[AnchorRecord, ...] = field(default=())


@dataclass(frozen=True)
class TokenRecord:
    """An API token without its secret (only the hash is stored)."""

    id: str
    name: str
    role: TokenRole
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def as_dict(record: Any) -> dict[str, Any]:
    """A record as a plain dict (datetimes kept), e.g. for JSON responses."""
    from dataclasses import asdict

    return asdict(record)
