"""Frozen values returned by the repository functions (never live ORM objects, so nothing
lazy-loads after a session has closed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

from cjgrade.errors import InputError, StorageError
from cjgrade.judges.cost import spend_of

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
    "PendingNote",
    "RoundFitRecord",
    "RoundMetrics",
    "TokenRecord",
    "TokenRole",
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
class PendingNote:
    """What a pending comparison is waiting for, parked in its error columns by
    ``record_failure(..., final=False)`` (e.g. the handle of the provider batch it was submitted
    in); its outcome replaces the note."""

    code: str
    """Stored as ``error_code`` (e.g. ``provider_batch``)."""
    reason: str
    """Stored as ``error_reason``: a sentence for people."""
    detail: str | None
    """Stored as ``raw_response``: machine-readable data (e.g. the handle's JSON)."""


@dataclass(frozen=True, kw_only=True)
class ComparisonRecord:
    """One comparison, as stored: the one type for a comparison row everywhere (engine,
    reports, distributed mode). Built from the database by the repository functions; code
    that judges without a database (the ENG5 boundary test) builds it with the defaults."""

    id: int
    batch_id: str
    round: int
    slot: int
    essay_a: str
    """Shown first (slot A)."""
    essay_b: str
    status: ComparisonStatus
    request_sha256: str | None = None
    winner: str | None = None
    """``A`` or ``B`` (the slot), None unless succeeded."""
    p_a: float | None = None
    confidence: float | None = None
    justification: str | None = None
    flags: tuple[str, ...] = ()
    provider: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    """None (with the other usage columns) when nothing was billed: a pending comparison, or
    a failure before any billed reply."""
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    cost_usd: float | None = None
    """None when nothing was billed, or when billed at an unknown price (see
    :attr:`spend_usd`)."""
    latency_s: float | None = None
    attempts: int = 0
    error_code: str | None = None
    error_reason: str | None = None
    raw_response: str | None = None
    created_at: datetime | None = None
    """Always set on a stored comparison; None only on one built without a database."""
    dispatched_at: datetime | None = None
    completed_at: datetime | None = None
    redispatches: int = 0
    """Times the request was published again (distributed mode)."""
    repeat_calls: int = 0
    """Judge calls paid again after the outcome was stored (included in the totals)."""

    @property
    def billed(self) -> bool:
        """Whether the provider charged for this comparison: a verdict, or a failure whose
        usage columns were written (invalid replies billed)."""
        return self.status == "succeeded" or self.input_tokens is not None

    @property
    def spend_usd(self) -> float | None:
        """What this comparison cost, by the one unknown-cost rule
        (:func:`cjgrade.judges.cost.spend_of`): 0 when nothing was billed, None when billed at
        an unknown price."""
        return spend_of(self.cost_usd, billed=self.billed)

    @property
    def pending_note(self) -> PendingNote | None:
        """The note parked on a pending comparison (what it waits for), or None."""
        if self.status != "pending" or self.error_code is None:
            return None
        return PendingNote(code=self.error_code, reason=self.error_reason or "",
                           detail=self.raw_response)


@dataclass(frozen=True, kw_only=True)
class RoundMetrics:
    """What a round's fit measured and decided beside theta and SE, stored as JSON in the
    round fit's ``details`` column (:meth:`to_json`, :meth:`from_json`)."""

    reliability: float | None = None
    """Posterior reliability (what the stopping rule reads)."""
    reliability_method: str | None = None
    laplace_reliability: float | None = None
    prior_variance: float | None = None
    """The empirical-Bayes prior variance of the abilities (warm-starts the next fit)."""
    soft_variance: float | None = None
    """Noise variance of the soft (stated-probability) outcomes."""
    position_effect: float | None = None
    position_se: float | None = None
    max_theta_change: float | None = None
    """Largest ability change since the previous round."""
    decision: str | None = None
    """Why the batch stopped or went on, in words."""
    n_requested: int | None = None
    """Comparisons requested up to this round."""
    judges: tuple[str, ...] = ()
    """``provider/model`` of the judges in the fit."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in ``round_fits.details``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["judges"] = list(self.judges)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RoundMetrics:
        """From a stored ``details`` object. Rows written by earlier versions lack some keys
        (they read as None); a key this version does not know is refused."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StorageError(
                f"round fit details hold unknown keys {unknown} (known: {sorted(known)}); "
                "the row was written by a newer cjgrade: upgrade to read it"
            )
        if "judges" in data:
            data["judges"] = tuple(data["judges"] or ())
        return cls(**data)


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
    metrics: RoundMetrics
    """Stored as JSON in the ``details`` column."""
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
