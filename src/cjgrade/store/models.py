"""SQLAlchemy table definitions for every aggregate.

The first migration (``migrations/versions/0001_initial.py``) creates exactly these tables; a
test compares the migrated schema with this metadata on SQLite and PostgreSQL, so the two cannot
drift. Repository modules return frozen records (``store.records``), never these ORM objects.

Crash safety rests on the unique constraints here:

* ``comparisons (batch_id, round, slot)``: a comparison is requested at most once per pair slot
  of a round, however often the engine restarts;
* a verdict is written with ``UPDATE ... WHERE status = 'pending'``: stored once even if it
  arrives twice;
* ``round_fits (batch_id, round)`` and ``grade_projections (batch_id, essay_id)``: re-running a
  finished step replaces rather than duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Anchor",
    "ApiToken",
    "Assignment",
    "Base",
    "Batch",
    "BatchEssay",
    "Comparison",
    "Content",
    "GradeProjection",
    "JudgeCacheEntry",
    "OutboxEvent",
    "RoundFit",
    "UTCDateTime",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CONTEXT_ORIGINS = ("research_experiment", "canonical_national")
TOKEN_ROLES = ("admin", "runner", "read")
BATCH_STATUSES = ("created", "running", "finalising", "completed", "failed", "cancelled")
COMPARISON_STATUSES = ("pending", "succeeded", "failed")

Json = JSON().with_variant(JSONB(), "postgresql")
SHA = String(64)
ID = String(100)


def utcnow() -> datetime:
    """Timezone-aware now in UTC (the only clock the store uses)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use cjgrade.store.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: Json}


class Content(Base):
    """Immutable UTF-8 text addressed by its SHA-256 (hex)."""

    __tablename__ = "content"
    id: Mapped[str] = mapped_column(SHA, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    n_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Assignment(Base):
    """Assessment instructions: what is graded, on which scale, with which prompt and rubric."""

    __tablename__ = "assignments"
    __table_args__ = (CheckConstraint(_in("context_origin", CONTEXT_ORIGINS), name="origin"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), unique=True)
    instructions_id: Mapped[str] = mapped_column(ForeignKey("content.id"))
    grade_scale: Mapped[str] = mapped_column(String(64), index=True)
    context_origin: Mapped[str] = mapped_column(String(32), default="research_experiment")
    student_prompt_id: Mapped[str | None] = mapped_column(ForeignKey("content.id"))
    judge_rubric_id: Mapped[str | None] = mapped_column(ForeignKey("content.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Anchor(Base):
    """An expert-graded essay registered for an assignment."""

    __tablename__ = "anchors"
    __table_args__ = (UniqueConstraint("assignment_id", "label", "grade_scale"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[str] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200))
    grade: Mapped[str] = mapped_column(String(16))
    grade_scale: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[str] = mapped_column(ForeignKey("content.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_in("role", TOKEN_ROLES), name="role"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(SHA, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class Batch(Base):
    """One CJ run. ``id`` is the canonical uuid4; ``label`` is for humans only."""

    __tablename__ = "batches"
    __table_args__ = (CheckConstraint(_in("status", BATCH_STATUSES), name="status"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(200), index=True)
    assignment_id: Mapped[str | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="RESTRICT"), index=True
    )
    grade_scale: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="created", index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    current_round: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class BatchEssay(Base):
    """An essay (student or anchor) in a batch; ``position`` is its stable integer index."""

    __tablename__ = "batch_essays"
    __table_args__ = (UniqueConstraint("batch_id", "position"),)
    batch_id: Mapped[str] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    essay_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    content_id: Mapped[str] = mapped_column(ForeignKey("content.id"))
    is_anchor: Mapped[bool] = mapped_column(Boolean, default=False)
    grade: Mapped[str | None] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200))
    theta: Mapped[float | None] = mapped_column(Float)
    se: Mapped[float | None] = mapped_column(Float)
    n_comparisons: Mapped[int] = mapped_column(Integer, default=0)
    n_wins: Mapped[float] = mapped_column(Float, default=0.0)


class Comparison(Base):
    """One requested judgement of an ordered pair (``essay_a`` shown first)."""

    __tablename__ = "comparisons"
    __table_args__ = (
        UniqueConstraint("batch_id", "round", "slot"),
        CheckConstraint(_in("status", COMPARISON_STATUSES), name="status"),
        CheckConstraint("essay_a <> essay_b", name="distinct_essays"),
        CheckConstraint("winner IS NULL OR winner IN ('A', 'B')", name="winner"),
        ForeignKeyConstraint(
            ["batch_id", "essay_a"],
            ["batch_essays.batch_id", "batch_essays.essay_id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["batch_id", "essay_b"],
            ["batch_essays.batch_id", "batch_essays.essay_id"],
            ondelete="CASCADE",
        ),
        Index("ix_comparisons_batch_id_status", "batch_id", "status"),
        Index("ix_comparisons_request_sha256", "request_sha256"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer)
    essay_a: Mapped[str] = mapped_column(String(200))
    essay_b: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str | None] = mapped_column(SHA)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    winner: Mapped[str | None] = mapped_column(String(1))
    p_a: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    justification: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[list[str] | None] = mapped_column(Json)
    provider: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cache_read_tokens: Mapped[int | None] = mapped_column(Integer)
    cache_write_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_s: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    redispatches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Times the request was published again because no result came (distributed mode)."""
    repeat_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Judge calls paid again after the outcome was stored (their requests, tokens and cost
    are added to ``attempts``, the token columns and ``cost_usd``)."""
    result_event_id: Mapped[str | None] = mapped_column(String(36))
    """Event id of the ``comparison.completed`` event stored (distributed mode): a later event
    with another id is a second judge call, the same id a replay."""
    repeat_event_ids: Mapped[list[str] | None] = mapped_column(Json)
    """Event ids of the repeat calls recorded (a repeat's result delivered again is not
    counted twice)."""
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_reason: Mapped[str | None] = mapped_column(Text)
    raw_response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()


class RoundFit(Base):
    """The Bradley-Terry fit after a round and the stopping decision taken on it."""

    __tablename__ = "round_fits"
    batch_id: Mapped[str] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    theta: Mapped[dict[str, Any]] = mapped_column()
    se: Mapped[dict[str, Any]] = mapped_column()
    ssr: Mapped[float | None] = mapped_column(Float)
    n_comparisons: Mapped[int] = mapped_column(Integer)
    stop: Mapped[bool] = mapped_column(Boolean, default=False)
    stop_reason: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GradeProjection(Base):
    """A grade distribution for one essay of a finished batch."""

    __tablename__ = "grade_projections"
    batch_id: Mapped[str] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    essay_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    grade_scale: Mapped[str] = mapped_column(String(64))
    probabilities: Mapped[dict[str, Any]] = mapped_column()
    most_likely: Mapped[str] = mapped_column(String(16))
    expected: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    confidence_label: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JudgeCacheEntry(Base):
    """A cached judge verdict; ``key`` = SHA-256 of provider, model, settings, request hash."""

    __tablename__ = "judge_cache"
    key: Mapped[str] = mapped_column(SHA, primary_key=True)
    provider: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[dict[str, Any]] = mapped_column()
    hits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """An event written in the same transaction as the state it announces (transactional
    outbox); a relay publishes it and sets ``published_at``."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_published_at_id", "published_at", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
