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

    async with AssessmentWatcher(transport, batch_uuid, store=store) as watcher:
        await submit_assessment(transport, store, spec, batch_uuid=batch_uuid)
        outcome = await watcher.wait(timeout_s=600)

Events on different topics are not ordered with each other: when the completion arrives, the
watcher first reads the comparison results up to the end of their topic, so every result
published before the completion is in the outcome. A broker that restarts with memory storage
loses the events it held: the watcher then resubscribes, and with ``store`` it reads what the
bus lost from the store (each comparison's outcome, and the batch's lifecycle events from the
outbox), checking the store every ``poll_s`` while no event arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog

from cjgrade.bus.events import (
    AssessmentRequestedV1,
    AssessmentResultV1,
    BatchCompletedV1,
    BatchFailedV1,
    ComparisonCompletedV1,
    make_envelope,
)
from cjgrade.bus.transport import Subscription, Transport
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.engine.spec_codec import request_event, text_ids
from cjgrade.errors import BusError, CJGradeError
from cjgrade.store import Store, put_text

__all__ = [
    "AssessmentOutcome",
    "AssessmentWatcher",
    "submit_assessment",
    "upload_texts",
]

log = structlog.get_logger("cjgrade.submit")

WATCHED = (
    ComparisonCompletedV1.TOPIC,
    BatchCompletedV1.TOPIC,
    AssessmentResultV1.TOPIC,
    BatchFailedV1.TOPIC,
)


async def upload_texts(store: Store, spec: BatchSpec) -> None:
    """Put every text of ``spec`` in the content store (the request references them by id)."""
    async with store.transaction() as session:
        for essay in spec.essays:
            await put_text(session, essay.text, f"essay {essay.id}")
        for name, cid in text_ids(spec).items():
            if cid is not None:
                await put_text(session, getattr(spec, name), name)


async def submit_assessment(
    transport: Transport, store: Store, spec: BatchSpec, *, batch_uuid: str | None = None,
    correlation_id: str | None = None, source: str = "cjgrade-client",
) -> str:
    """Validate ``spec``, upload its texts, publish the request; returns the batch uuid."""
    validate_spec(spec)
    batch_uuid = batch_uuid or str(uuid.uuid4())
    await upload_texts(store, spec)
    event = request_event(spec, batch_uuid)
    envelope = make_envelope(event, correlation_id=correlation_id or batch_uuid, source=source)
    await transport.publish(AssessmentRequestedV1.TOPIC, envelope)
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
    from_store: int = 0
    """Events the bus lost that were read from the store instead."""

    @property
    def status(self) -> str:
        if self.failed is not None:
            return "failed"
        if self.completed is not None:
            return "completed"
        return "timeout"


class AssessmentWatcher:
    """Collects one batch's events from the moment it is entered (see the module docstring).

    ``comparisons=False`` skips the per-comparison results (only the batch's end); ``store``
    (the batch's database) lets the watcher recover what the bus lost; ``poll_s`` is how long
    it waits without an event before it looks there.
    """

    def __init__(self, transport: Transport, batch_uuid: str, *, grace_s: float = 10.0,
                 comparisons: bool = True, store: Store | None = None,
                 poll_s: float = 5.0) -> None:
        self.transport = transport
        self.topics = WATCHED if comparisons else WATCHED[1:]
        self.outcome = AssessmentOutcome(batch_uuid)
        self.grace_s = grace_s
        self.store = store
        self.poll_s = poll_s
        self._subs: dict[str, Subscription] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._seen_events: set[str] = set()

    async def __aenter__(self) -> AssessmentWatcher:
        try:
            for topic in self.topics:
                self._subs[topic] = await self._subscribe(topic)
                self._tasks.append(asyncio.ensure_future(self._collect(topic)))
        except BaseException:
            await self.__aexit__()  # stop what was started
            raise
        return self

    async def _subscribe(self, topic: str) -> Subscription:
        sub = self.transport.subscribe(topic)
        await sub.start()
        return sub

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sub in self._subs.values():
            with contextlib.suppress(Exception):
                await sub.close()

    async def _collect(self, topic: str) -> None:
        """Read one topic; when reading fails (a broker gone), subscribe again."""
        while True:
            try:
                async for envelope in self._subs[topic]:
                    self._take(envelope)
                return
            except BusError as exc:
                log.warning("watcher lost its subscription; subscribing again", topic=topic,
                            error=str(exc))
            with contextlib.suppress(Exception):
                await self._subs[topic].close()
            while True:
                await asyncio.sleep(1.0)
                try:
                    self._subs[topic] = await self._subscribe(topic)
                    break
                except BusError:
                    continue

    def _take(self, envelope: Any) -> None:
        out = self.outcome
        if envelope.key != out.batch_uuid:
            return
        if envelope.event_id in self._seen_events:
            out.duplicates += 1  # at-least-once delivery: the same event again
            return
        self._seen_events.add(envelope.event_id)
        try:
            event = envelope.event()
        except BusError:
            return
        if getattr(event, "batch_uuid", None) != out.batch_uuid:
            return
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

    async def _from_store(self, *, comparisons: bool) -> None:
        """Take what the store holds and the bus did not deliver."""
        if self.store is None:
            return
        from cjgrade.distributed.stored_events import stored_comparisons, stored_lifecycle

        out = self.outcome
        try:
            for envelope in await stored_lifecycle(self.store, out.batch_uuid):
                if envelope.event_id not in self._seen_events:
                    out.from_store += 1
                    self._take(envelope)
            if comparisons and ComparisonCompletedV1.TOPIC in self.topics:
                for cid, event in (await stored_comparisons(self.store, out.batch_uuid)).items():
                    if cid not in out.comparisons:
                        out.from_store += 1
                        out.comparisons[cid] = event
        except CJGradeError as exc:
            log.warning("watcher cannot read the store", error=str(exc))

    async def _complete_comparisons(self) -> None:
        """After the batch's end: every result published before it is read (or stored)."""
        sub = self._subs.get(ComparisonCompletedV1.TOPIC)
        if sub is not None:
            with contextlib.suppress(BusError):
                await sub.caught_up(timeout_s=self.grace_s)
        await self._from_store(comparisons=True)

    def _ended(self) -> bool:
        out = self.outcome
        return out.failed is not None or (out.completed is not None and out.result is not None)

    async def wait(self, timeout_s: float) -> AssessmentOutcome:
        """Wait for the batch to end (or ``timeout_s``); returns what was collected."""
        out = self.outcome
        started = time.monotonic()
        deadline = started + timeout_s
        completed_at: float | None = None
        while True:
            now = time.monotonic()
            if self._ended():
                break
            if out.completed is not None:
                completed_at = completed_at or now
                if now - completed_at >= self.grace_s:
                    break
            if now >= deadline:
                out.partial = True
                break
            limit = min(deadline - now, self.poll_s if self.store is not None else deadline - now)
            if completed_at is not None:
                limit = min(limit, self.grace_s - (now - completed_at))
            self._changed.clear()
            try:
                async with asyncio.timeout(max(0.01, limit)):
                    await self._changed.wait()
            except TimeoutError:
                await self._from_store(comparisons=False)  # quiet: did the bus lose the end?
        if not out.partial:
            await self._complete_comparisons()
        out.waited_s = time.monotonic() - started
        return out
