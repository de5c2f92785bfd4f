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
    "BatchPage",
    "BatchProgressOut",
    "BatchResultOut",
    "BatchSubmit",
    "BatchSubmitted",
    "ContentStored",
    "EssayIn",
    "EssayResultOut",
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


# -- batches (docs/batches.md) -------------------------------------------------------------------

BATCH_UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
ESSAY_ID_PATTERN = r"^[^\s\x00]([^\x00]{0,198}[^\s\x00])?$"
PATTERN_RULES[BATCH_UUID_PATTERN] = (
    "must be a batch uuid in canonical form (lowercase uuid4, e.g. "
    "0f8fad5b-d9cb-469f-a165-70867728950e)"
)
PATTERN_RULES[ESSAY_ID_PATTERN] = (
    "needs 1-200 characters, no space at either end and no NUL character"
)
BatchStatusName = Literal["created", "running", "finalising", "completed", "failed", "cancelled"]


class EssayIn(_In):
    """One essay of a submitted batch: its text inline, or the content id of a text uploaded
    to ``POST /v1/content`` (exactly one of the two)."""

    essay_id: Annotated[str, Field(pattern=ESSAY_ID_PATTERN, examples=["student_01"])]
    text: Annotated[
        str | None,
        Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS, pattern=NONBLANK_PATTERN),
    ] = None
    content_id: Annotated[str | None, Field(default=None, pattern=SHA256_PATTERN)] = None
    is_anchor: bool = False
    grade: Annotated[
        str | None,
        Field(default=None, min_length=1, max_length=16, pattern=NO_NUL_PATTERN,
              description="The expert grade of an anchor (on the batch's grade scale)."),
    ] = None
    file_name: Annotated[
        str | None,
        Field(default=None, min_length=1, max_length=200, pattern=NONBLANK_PATTERN,
              description="The file the essay came from, shown in reports."),
    ] = None


class BatchSubmit(_In):
    """A batch to run: ad hoc (``instructions``, ``grade_scale`` and anchors given here) or
    bound to a stored assignment (``assignment_id``: its instructions, prompt, rubric, scale
    and registered anchors are used; give student essays only)."""

    judge: Annotated[str, Field(min_length=3, max_length=200, pattern=NO_NUL_PATTERN,
                                examples=["anthropic/claude-haiku-4-5-20251001"])]
    essays: Annotated[list[EssayIn], Field(min_length=2, max_length=20_000)]
    assignment_id: AssignmentId | None = None
    instructions: Annotated[
        str | None, Field(default=None, max_length=MAX_TEXT_CHARS, pattern=NONBLANK_PATTERN)
    ] = None
    student_prompt: Annotated[
        str | None, Field(default=None, max_length=MAX_TEXT_CHARS, pattern=NO_NUL_PATTERN)
    ] = None
    rubric: Annotated[
        str | None, Field(default=None, max_length=MAX_TEXT_CHARS, pattern=NO_NUL_PATTERN)
    ] = None
    system_prompt: Annotated[
        str | None, Field(default=None, max_length=MAX_TEXT_CHARS, pattern=NO_NUL_PATTERN)
    ] = None
    grade_scale: Annotated[
        str | None, Field(default=None, min_length=1, max_length=64, pattern=NO_NUL_PATTERN)
    ] = None
    label: Annotated[
        str | None, Field(default=None, min_length=1, max_length=200, pattern=NONBLANK_PATTERN)
    ] = None
    grades: bool = Field(True, description="Project grades (needs anchors of 2+ grades).")
    options: dict[str, int | float | bool | str | None] = Field(
        default_factory=dict,
        description="Batch options (budget, target_reliability, strategy, seed, ...), checked "
        "against their one declaration (cjgrade.engine.options.BatchOptions); unknown keys are "
        "refused.",
    )
    base_url: Annotated[
        str | None, Field(default=None, max_length=500, pattern=r"^https?://[^\s\x00]+$")
    ] = None
    batch_uuid: Annotated[
        str | None,
        Field(default=None, pattern=BATCH_UUID_PATTERN,
              description="Choose the batch's uuid (a retried submission is then a 409, never "
              "a second batch); default a new uuid4."),
    ] = None


class BatchProgressOut(BaseModel):
    """A batch and where it stands."""

    batch_uuid: str
    label: str | None
    status: BatchStatusName
    judge: str | None
    assignment_id: str | None
    grade_scale: str | None
    n_students: int
    n_anchors: int
    comparisons_planned: int
    comparisons_done: int
    """Answered comparisons: succeeded plus failed."""
    comparisons_succeeded: int
    comparisons_failed: int
    comparisons_pending: int
    rounds_fitted: int
    reliability: float | None
    """Posterior reliability after the latest round (what the stopping rule reads)."""
    ssr: float | None
    stop_reason: str | None
    cost_usd: float
    """Known cost so far; a lower bound while ``cost_unknown_comparisons`` > 0."""
    cost_unknown_comparisons: int
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class BatchSubmitted(BatchProgressOut):
    warnings: list[str]
    """What ``cjgrade plan`` would warn about (cost, context window, few anchors, ...)."""
    cost_estimate_usd: float | None


class BatchPage(BaseModel):
    items: list[BatchProgressOut]
    total: int
    page: int
    page_size: int


class EssayResultOut(BaseModel):
    essay_id: str
    file_name: str | None
    is_anchor: bool
    anchor_grade: str | None
    rank: int
    theta: float
    se: float
    comparison_count: int
    grade: str | None
    grade_probabilities: dict[str, float] | None
    grade_confidence: float | None
    grade_reliable: bool | None


class BatchResultOut(BaseModel):
    """The result of a finished batch (the artefact's summary; the whole of it is at
    ``.../artefact``)."""

    batch_uuid: str
    status: Literal["completed", "failed"]
    stop_reason: str
    failure_reason: str | None
    quality_status: Literal["ok", "warning", "degenerate"]
    grades_reliable: bool
    reliability: float | None
    ssr: float | None
    cost_usd: float | None
    n_comparisons: int
    n_succeeded: int
    n_failed: int
    essays: list[EssayResultOut]
