"""Frozen values returned by the repository functions (never live ORM objects, so nothing
lazy-loads after a session has closed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

from cjgrade.errors import InputError

__all__ = [
    "AnchorRecord",
    "AnchorSummary",
    "AssignmentRecord",
    "BatchEssayRecord",
    "BatchRecord",
    "BatchStatus",
    "ComparisonRecord",
    "ComparisonStatus",
    "ContextOrigin",
    "GradeProjectionRecord",
    "NewComparison",
    "NewEssay",
    "NotFound",
    "OutboxRecord",
    "RoundFitRecord",
    "TokenRecord",
    "TokenRole",
    "UsageTotals",
]

ContextOrigin = Literal["research_experiment", "canonical_national"]
TokenRole = Literal["admin", "runner", "read"]
BatchStatus = Literal["created", "running", "finalising", "completed", "failed", "cancelled"]
ComparisonStatus = Literal["pending", "succeeded", "failed"]


R = TypeVar("R")


def record_from_row(cls: type[R], row: Any, **overrides: Any) -> R:
    """A frozen record of type ``cls`` from an ORM row whose attributes carry the record's
    field names; ``overrides`` replace or convert individual fields."""
    values = {f.name: getattr(row, f.name) for f in fields(cls) if f.name not in overrides}  # type: ignore[arg-type]
    return cls(**values, **overrides)


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


@dataclass(frozen=True)
class NewEssay:
    """An essay to put into a new batch: ``text`` or an existing ``content_id``."""

    essay_id: str
    text: str | bytes | None = None
    content_id: str | None = None
    is_anchor: bool = False
    grade: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class BatchRecord:
    id: str
    """Canonical batch uuid4."""
    label: str | None
    assignment_id: str | None
    grade_scale: str | None
    status: BatchStatus
    settings: Mapping[str, Any]
    current_round: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class BatchEssayRecord:
    batch_id: str
    essay_id: str
    position: int
    """Stable 0-based index for the statistics core's integer-indexed arrays."""
    content_id: str
    is_anchor: bool
    grade: str | None
    label: str | None
    theta: float | None
    se: float | None
    n_comparisons: int
    n_wins: float


@dataclass(frozen=True)
class NewComparison:
    """One pair slot of a round: ``essay_a`` is shown first."""

    slot: int
    essay_a: str
    essay_b: str
    request_sha256: str | None = None


@dataclass(frozen=True)
class ComparisonRecord:
    id: int
    batch_id: str
    round: int
    slot: int
    essay_a: str
    essay_b: str
    request_sha256: str | None
    status: ComparisonStatus
    winner: str | None
    p_a: float | None
    confidence: float | None
    justification: str | None
    flags: tuple[str, ...]
    provider: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    cost_usd: float | None
    latency_s: float | None
    attempts: int
    error_code: str | None
    error_reason: str | None
    raw_response: str | None
    created_at: datetime
    dispatched_at: datetime | None
    completed_at: datetime | None
    redispatches: int = 0
    """Times the request was published again (distributed mode)."""
    repeat_calls: int = 0
    """Judge calls paid again after the outcome was stored (included in the totals)."""


@dataclass(frozen=True)
class UsageTotals:
    """Token and cost totals over a batch's comparisons (succeeded ones, plus what the provider
    billed for failed ones)."""

    n_succeeded: int
    n_failed: int
    n_pending: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    """Sum over comparisons whose cost is known."""
    n_cost_unknown: int
    """Succeeded comparisons, and failed ones that billed tokens, without a price: when > 0,
    ``cost_usd`` is a lower bound."""


@dataclass(frozen=True)
class RoundFitRecord:
    batch_id: str
    round: int
    theta: Mapping[str, float]
    se: Mapping[str, float]
    ssr: float | None
    n_comparisons: int
    stop: bool
    stop_reason: str | None
    details: Mapping[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class GradeProjectionRecord:
    essay_id: str
    grade_scale: str
    probabilities: Mapping[str, float]
    most_likely: str
    expected: float | None = None
    confidence: float | None = None
    confidence_label: str | None = None
    details: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    topic: str
    key: str | None
    payload: Mapping[str, Any]
    attempts: int
    last_error: str | None
    created_at: datetime
    published_at: datetime | None


def as_dict(record: Any) -> dict[str, Any]:
    """A record as a plain dict (datetimes kept), e.g. for JSON responses."""
    from dataclasses import asdict

    return asdict(record)
