"""Request and response bodies of the admin API (pydantic v2).

Validation rules (documented in docs/api.md):

- ``assignment_id``: 1-100 characters from ``A-Z a-z 0-9 . _ : -``, starting with a letter or
  digit, so it is safe in a URL path and in file names (UUIDs and slugs such as
  ``np_2017_vt`` both fit);
- ``name`` (an optional slug): the same rule, since the assignment can be fetched by it;
- instructions, student prompt and judge rubric: at least 10 characters once leading and
  trailing whitespace is ignored (as in the original), at most 100,000;
- an anchor essay: at least one non-whitespace character, at most 100,000 characters;
- the request body as a whole is capped by the server (413 beyond it).

Texts are stored exactly as sent; the rules only look at them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AnchorOut",
    "AnchorRegister",
    "AnchorRegistered",
    "AnchorSummary",
    "AssignmentId",
    "ContentStored",
    "Health",
    "InstructionIn",
    "InstructionOut",
    "InstructionPage",
    "RubricIn",
    "ScaleOut",
    "StoredText",
    "StudentPromptIn",
]

MAX_TEXT_CHARS = 100_000
"""Longest text in a JSON body; even fully \\u-escaped (6 bytes a character) it fits the default
1 MiB body limit, so only texts that break this rule can meet a 413."""
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
# "At least 10 characters between the first and the last non-whitespace character": the
# pattern is the whole rule, so the OpenAPI schema and the server agree exactly.
# NUL is excluded everywhere: PostgreSQL cannot store it in text.
TEXT10_PATTERN = r"^\s*[^\s\x00][^\x00]{8,}[^\s\x00]\s*$"
NONBLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"

PATTERN_RULES: dict[str, str] = {
    ID_PATTERN: (
        "use letters, digits, '.', '_', ':' and '-' only, starting with a letter or digit "
        "(1-100 characters, e.g. np_2017_vt or a UUID)"
    ),
    TEXT10_PATTERN: (
        "needs at least 10 characters between the first and the last non-whitespace "
        "character, and no NUL character"
    ),
    NONBLANK_PATTERN: "needs at least one non-whitespace character, and no NUL character",
    NO_NUL_PATTERN: "must not contain a NUL character (\\u0000)",
    SHA256_PATTERN: "must be a content id: 64 lowercase hexadecimal characters (a SHA-256)",
}
"""Every pattern the API uses, said in words: a refusal names the rule, never the regex."""


def _builtin_scale_ids() -> list[str]:
    from cjgrade.scales import list_scales

    return [scale.scale_id for scale in list_scales()]


GradeScaleId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=NO_NUL_PATTERN,
        description="A scale id from GET /admin/v1/scales.",
        examples=["eng5_np_legacy_9_step"],
        json_schema_extra={"enum": _builtin_scale_ids()},
    ),
]

AssignmentId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=ID_PATTERN,
        description="Assignment id: 1-100 of A-Z a-z 0-9 . _ : - (first a letter or digit).",
        examples=["np_2017_vt"],
    ),
]
Text10 = Annotated[
    str,
    Field(
        min_length=10,
        max_length=MAX_TEXT_CHARS,
        pattern=TEXT10_PATTERN,
        description="At least 10 characters, ignoring leading/trailing whitespace.",
    ),
]
ContextOrigin = Literal["research_experiment", "canonical_national"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstructionIn(_In):
    """Create or replace the assessment instructions of an assignment (upsert)."""

    assignment_id: AssignmentId
    instructions_text: Text10
    grade_scale: GradeScaleId
    context_origin: ContextOrigin = "research_experiment"
    name: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=100,
            pattern=ID_PATTERN,
            description=(
                "Optional slug, unique across assignments (e.g. np_2017_vt); same characters "
                "as an id, because GET .../assignment/{id} also accepts the name."
            ),
        ),
    ] = None
    student_prompt_storage_id: Annotated[
        str | None,
        Field(
            default=None,
            pattern=SHA256_PATTERN,
            description="Link an already uploaded student prompt (content id).",
        ),
    ] = None


class InstructionOut(BaseModel):
    assignment_id: str
    name: str | None
    instructions_text: str
    instructions_storage_id: str
    grade_scale: str
    context_origin: ContextOrigin
    student_prompt_storage_id: str | None
    judge_rubric_storage_id: str | None
    created_at: datetime
    updated_at: datetime


class InstructionPage(BaseModel):
    items: list[InstructionOut]
    total: int
    page: int
    page_size: int


class StudentPromptIn(_In):
    assignment_id: AssignmentId
    prompt_text: Text10


class RubricIn(_In):
    assignment_id: AssignmentId
    rubric_text: Text10


class StoredText(BaseModel):
    """A prompt or rubric linked to an assignment."""

    assignment_id: str
    storage_id: str
    text: str


class AnchorRegister(_In):
    """Register (or replace) an anchor essay: unique on (assignment, label, grade scale)."""

    assignment_id: AssignmentId
    grade: Annotated[
        str, Field(min_length=1, max_length=16, pattern=NO_NUL_PATTERN, examples=["B"])
    ]
    anchor_label: Annotated[
        str, Field(min_length=1, max_length=200, pattern=NONBLANK_PATTERN, examples=["B1"])
    ]
    essay_text: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_TEXT_CHARS,
            pattern=NONBLANK_PATTERN,
            description="The essay; at least one non-whitespace character.",
        ),
    ]


class AnchorRegistered(BaseModel):
    anchor_id: int
    storage_id: str
    grade_scale: str
    status: Literal["registered", "updated"]


class AnchorOut(BaseModel):
    id: int
    assignment_id: str
    anchor_label: str
    grade: str
    grade_scale: str
    text_storage_id: str
    created_at: datetime
    updated_at: datetime


class AnchorSummary(BaseModel):
    """Anchors of an assignment. ``anchors`` and ``anchor_count`` cover the assignment's own
    grade scale; ``anchor_count_by_scale`` counts rows under every scale."""

    assignment_id: str
    grade_scale: str
    anchor_count: int
    anchor_count_total: int
    anchor_count_by_scale: dict[str, int]
    anchors: list[AnchorOut]


class ScaleOut(BaseModel):
    scale_id: str
    display_name: str
    grades: list[str]
    population_priors: dict[str, float]
    description: str
    allows_below_lowest: bool
    below_lowest_grade: str | None


class ContentStored(BaseModel):
    storage_id: Annotated[str, Field(description="SHA-256 (hex) of the UTF-8 bytes.")]


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
