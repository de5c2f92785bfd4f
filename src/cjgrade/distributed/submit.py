"""Submit an assessment request over the bus and await its completion events (as the ENG5
runner does in execute mode).

1. The texts (essays, instructions, prompt, rubric) go to the content store, addressed by
   SHA-256 (:func:`upload_texts`).
2. ``assessment.requested`` is published with key = batch uuid (:func:`submit_assessment`).
3. :class:`AssessmentWatcher` collects ``comparison.completed`` (deduplicated on comparison
   id), ``batch.completed``, ``assessment.result`` and ``batch.failed`` of that batch. It
   stops when both the completion and the rich result are in, ``grace_s`` after the
   completion if the result does not come, on a failure, or at the timeout (``partial``).

Start the watcher before submitting so no event is missed::

    async with AssessmentWatcher(transport, batch_uuid) as watcher:
        await submit_assessment(transport, store, spec, batch_uuid=batch_uuid)
        outcome = await watcher.wait(timeout_s=600)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cjgrade.bus.events import (
    AssessmentRequestedV1,
    AssessmentResultV1,
    BatchCompletedV1,
    BatchFailedV1,
    ComparisonCompletedV1,
    EssayRef,
    make_envelope,
)
from cjgrade.bus.transport import Subscription, Transport
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.errors import BusError
from cjgrade.store import Store, content_id, put_text

__all__ = [
    "AssessmentOutcome",
    "AssessmentWatcher",
    "assessment_request",
    "submit_assessment",
    "upload_texts",
]

ASSESSMENT_REQUESTED = "cjgrade.assessment.requested.v1"
WATCHED = (
    "cjgrade.comparison.completed.v1",
    "cjgrade.batch.completed.v1",
    "cjgrade.assessment.result.v1",
    "cjgrade.batch.failed.v1",
)


async def upload_texts(store: Store, spec: BatchSpec) -> dict[str, str]:
    """Put every text of ``spec`` in the content store; returns the ids of the named texts."""
    names: dict[str, str] = {}
    async with store.transaction() as session:
        for essay in spec.essays:
            await put_text(session, essay.text, f"essay {essay.id}")
        for name in ("instructions", "student_prompt", "rubric", "system_prompt"):
            value = getattr(spec, name)
            if value.strip():
                names[name] = await put_text(session, value, name)
    return names


def assessment_request(spec: BatchSpec, batch_uuid: str,
                       texts: dict[str, str]) -> AssessmentRequestedV1:
    """The request event of ``spec`` (texts referenced by content id, never inline)."""
    options: dict[str, Any] = spec.options.to_dict()
    options["texts"] = dict(texts)
    options["grades_requested"] = spec.grades_requested
    if spec.base_url:
        options["base_url"] = spec.base_url
    return AssessmentRequestedV1(
        batch_uuid=batch_uuid, label=spec.label,
        assignment_id=spec.assignment_id or spec.assignment_ref,
        grade_scale=spec.grade_scale or "", judge=spec.judge,
        essays=[EssayRef(essay_id=e.id, content_sha256=content_id(e.text),
                         is_anchor=e.is_anchor, grade=e.grade) for e in spec.essays],
        options=options,
    )


async def submit_assessment(
    transport: Transport, store: Store, spec: BatchSpec, *, batch_uuid: str | None = None,
    correlation_id: str | None = None, source: str = "cjgrade-client",
) -> str:
    """Validate ``spec``, upload its texts, publish the request; returns the batch uuid."""
    validate_spec(spec)
    batch_uuid = batch_uuid or str(uuid.uuid4())
    texts = await upload_texts(store, spec)
    event = assessment_request(spec, batch_uuid, texts)
    envelope = make_envelope(event, correlation_id=correlation_id or batch_uuid, source=source)
    await transport.publish(ASSESSMENT_REQUESTED, envelope)
    return batch_uuid


@dataclass
class AssessmentOutcome:
    batch_uuid: str
    completed: BatchCompletedV1 | None = None
    result: AssessmentResultV1 | None = None
    failed: BatchFailedV1 | None = None
    comparisons: dict[int, ComparisonCompletedV1] = field(default_factory=dict)
    """Comparison results seen, one per comparison id (duplicates dropped)."""
    duplicates: int = 0
    """Events received again (same event id, or another result for a comparison id)."""
    partial: bool = False
    """True when the wait ended at the timeout before the batch finished."""
    waited_s: float = 0.0

    @property
    def status(self) -> str:
        if self.failed is not None:
            return "failed"
        if self.completed is not None:
            return "completed"
        return "timeout"


class AssessmentWatcher:
    """Collects one batch's events from the moment it is entered (see the module docstring)."""

    def __init__(self, transport: Transport, batch_uuid: str, *, grace_s: float = 10.0,
                 comparisons: bool = True) -> None:
        """``comparisons=False`` skips the per-comparison results (only the batch's end)."""
        self.transport = transport
        self.topics = WATCHED if comparisons else WATCHED[1:]
        self.outcome = AssessmentOutcome(batch_uuid)
        self.grace_s = grace_s
        self._subs: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._seen_events: set[str] = set()

    async def __aenter__(self) -> AssessmentWatcher:
        for topic in self.topics:
            sub = self.transport.subscribe(topic)
            starter = getattr(sub, "start", None)
            if callable(starter):
                await starter()
            self._subs.append(sub)
            self._tasks.append(asyncio.ensure_future(self._collect(sub)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.close()

    async def _collect(self, sub: Subscription) -> None:
        out = self.outcome
        async for envelope in sub:
            if envelope.key != out.batch_uuid:
                continue
            if envelope.event_id in self._seen_events:
                out.duplicates += 1  # at-least-once delivery: the same event again
                continue
            self._seen_events.add(envelope.event_id)
            try:
                event = envelope.event()
            except BusError:
                continue
            if getattr(event, "batch_uuid", None) != out.batch_uuid:
                continue
            if isinstance(event, ComparisonCompletedV1):
                if event.comparison_id in out.comparisons:
                    out.duplicates += 1
                else:
                    out.comparisons[event.comparison_id] = event
            elif isinstance(event, BatchCompletedV1):
                out.completed = event
            elif isinstance(event, AssessmentResultV1):
                out.result = event
            elif isinstance(event, BatchFailedV1):
                out.failed = event
            self._changed.set()

    async def wait(self, timeout_s: float) -> AssessmentOutcome:
        """Wait for the batch to end (or ``timeout_s``); returns what was collected."""
        out = self.outcome
        started = time.monotonic()
        deadline = started + timeout_s
        completed_at: float | None = None
        while True:
            now = time.monotonic()
            if out.failed is not None or (out.completed is not None and out.result is not None):
                break
            if out.completed is not None:
                completed_at = completed_at or now
                if now - completed_at >= self.grace_s:
                    break
            if now >= deadline:
                out.partial = True
                break
            limit = deadline - now
            if completed_at is not None:
                limit = min(limit, self.grace_s - (now - completed_at))
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.01, limit))
        out.waited_s = time.monotonic() - started
        return out
