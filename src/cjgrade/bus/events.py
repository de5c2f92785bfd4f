"""Versioned event envelopes and the data of every event the engine publishes or consumes.

An :class:`Envelope` carries one event: its id, type (which is also its topic), schema
version, timestamp, source, correlation id, partition key (the batch uuid, so one batch's
events stay ordered) and the event data. Decoding is two-phase: the envelope first, then the
data model named by ``event_type`` (see :func:`decode_envelope`).

Bump an event's ``vN`` (new model, new topic) for a breaking change; add optional fields for a
compatible one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cjgrade.errors import BusError

__all__ = [
    "EVENT_MODELS",
    "AssessmentRequestedV1",
    "AssessmentResultV1",
    "BatchCompletedV1",
    "BatchFailedV1",
    "ComparisonCompletedV1",
    "ComparisonRequestedV1",
    "EnvelopeModel",
    "EssayRef",
    "EssayResult",
    "JudgeRequestData",
    "decode_envelope",
    "make_envelope",
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    TOPIC: ClassVar[str] = ""
    """The topic (also the ``event_type``) of a top-level event; the one place it is named."""


class EssayRef(_Event):
    essay_id: str
    content_sha256: str
    is_anchor: bool = False
    grade: str | None = None


class AssessmentRequestedV1(_Event):
    """A client asks for a batch to be assessed (distributed mode entry point)."""

    TOPIC: ClassVar[str] = "cjgrade.assessment.requested.v1"
    event_type: Literal["cjgrade.assessment.requested.v1"] = "cjgrade.assessment.requested.v1"
    batch_uuid: str
    label: str | None = None
    assignment_id: str | None = None
    grade_scale: str
    judge: str
    essays: list[EssayRef]
    options: dict[str, Any] = Field(default_factory=dict)
    """The batch options (``cjgrade.engine.options.BatchOptions``), nothing else."""
    texts: dict[str, str] = Field(default_factory=dict)
    """Content ids of the named texts: ``instructions``, ``student_prompt``, ``rubric``,
    ``system_prompt``."""
    grades_requested: bool = True
    base_url: str | None = None
    """An OpenAI- or Anthropic-compatible server for the judge (workers must allow it)."""


class JudgeRequestData(_Event):
    """The texts a worker needs to judge a pair (never the essay ids)."""

    system_prompt: str
    student_prompt: str
    instructions: str
    rubric: str
    essay_a: str
    essay_b: str
    temperature: float | None = 0.0
    max_tokens: int = 1024
    reasoning_effort: Literal["none", "low", "medium", "high"] | None = None
    output_verbosity: Literal["low", "medium", "high"] | None = None


class ComparisonRequestedV1(_Event):
    """One comparison to judge; ``comparison_id`` is the idempotency key of its result."""

    TOPIC: ClassVar[str] = "cjgrade.comparison.requested.v1"
    event_type: Literal["cjgrade.comparison.requested.v1"] = "cjgrade.comparison.requested.v1"
    batch_uuid: str
    comparison_id: int
    round: int
    slot: int
    judge: str
    request: JudgeRequestData
    base_url: str | None = None
    """The batch's OpenAI-compatible server (self-hosted models); None for the provider's own."""


class ComparisonCompletedV1(_Event):
    """A verdict or a failure for one comparison."""

    TOPIC: ClassVar[str] = "cjgrade.comparison.completed.v1"
    event_type: Literal["cjgrade.comparison.completed.v1"] = "cjgrade.comparison.completed.v1"
    batch_uuid: str
    comparison_id: int
    status: Literal["succeeded", "failed"]
    request_sha256: str | None = None
    winner: Literal["A", "B"] | None = None
    p_a: float | None = Field(default=None, ge=0.0, le=1.0)
    confidence: float | None = None
    justification: str | None = None
    provider: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    flags: list[str] = Field(default_factory=list)
    raw_response: str = ""
    error_code: str | None = None
    error_reason: str | None = None
    attempts: int = 1
    worker_id: str | None = None
    """The worker that judged it (``host:pid:tag``)."""
    worker_concurrency: int | None = None
    """That worker's judge calls in flight at most: the orchestrator sizes rounds by the sum
    over the workers it heard from recently."""


class BatchCompletedV1(_Event):
    """A batch finished and its results are stored (thin completion event)."""

    TOPIC: ClassVar[str] = "cjgrade.batch.completed.v1"
    event_type: Literal["cjgrade.batch.completed.v1"] = "cjgrade.batch.completed.v1"
    batch_uuid: str
    label: str | None = None
    stop_reason: str
    n_essays: int
    n_students: int
    n_comparisons: int
    n_succeeded: int
    n_failed: int
    ssr: float | None = None
    duration_s: float | None = None


class EssayResult(_Event):
    essay_id: str
    is_anchor: bool
    theta: float
    se: float
    rank: int
    n_comparisons: int
    anchor_grade: str | None = None
    grade: str | None = None
    grade_probabilities: dict[str, float] | None = None


class AssessmentResultV1(_Event):
    """The rich result: scale, ranks and grade distributions of every essay."""

    TOPIC: ClassVar[str] = "cjgrade.assessment.result.v1"
    event_type: Literal["cjgrade.assessment.result.v1"] = "cjgrade.assessment.result.v1"
    batch_uuid: str
    assignment_id: str | None = None
    grade_scale: str | None = None
    judges: list[str] = Field(default_factory=list)
    ssr: float | None = None
    essays: list[EssayResult]


class BatchFailedV1(_Event):
    """A batch stopped without results; ``reason`` is a stable code, ``details`` for humans."""

    TOPIC: ClassVar[str] = "cjgrade.batch.failed.v1"
    event_type: Literal["cjgrade.batch.failed.v1"] = "cjgrade.batch.failed.v1"
    batch_uuid: str
    reason: str
    details: str = ""


EVENT_MODELS: dict[str, type[_Event]] = {
    model.TOPIC: model
    for model in (
        AssessmentRequestedV1,
        ComparisonRequestedV1,
        ComparisonCompletedV1,
        BatchCompletedV1,
        AssessmentResultV1,
        BatchFailedV1,
    )
}
assert all(m.model_fields["event_type"].default == t for t, m in EVENT_MODELS.items())


class EnvelopeModel(BaseModel):
    """The envelope around every event (schema version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    event_type: str
    schema_version: int = 1
    event_timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: str = "cjgrade"
    correlation_id: str | None = None
    key: str | None = None
    """Partition key: the batch uuid, so one batch's events stay in order."""
    data: dict[str, Any]

    def event(self) -> _Event:
        """The typed event data (second phase of decoding)."""
        model = EVENT_MODELS.get(self.event_type)
        if model is None:
            raise BusError(f"unknown event type {self.event_type!r}")
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            raise BusError(f"invalid {self.event_type} event {self.event_id}: {exc}") from exc


def make_envelope(
    event: _Event, *, key: str | None = None, correlation_id: str | None = None,
    source: str = "cjgrade",
) -> EnvelopeModel:
    """Wrap an event; the partition key defaults to the event's ``batch_uuid``."""
    data = event.model_dump(mode="json")
    return EnvelopeModel(
        event_type=data["event_type"],
        key=key if key is not None else data.get("batch_uuid"),
        correlation_id=correlation_id,
        source=source,
        data=data,
    )


def decode_envelope(raw: bytes | str | dict[str, Any]) -> EnvelopeModel:
    """Decode an envelope (first phase); call :meth:`EnvelopeModel.event` for the data."""
    try:
        if isinstance(raw, dict):
            return EnvelopeModel.model_validate(raw)
        return EnvelopeModel.model_validate_json(raw)
    except ValidationError as exc:
        raise BusError(f"not a cjgrade event envelope: {exc}") from exc
