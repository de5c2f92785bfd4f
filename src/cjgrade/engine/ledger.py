"""The engine's persistence, through the store's repository functions (``cjgrade.store``).

Each method is one short transaction. Crash safety comes from the store's contract: a round's
pairs are requested insert-if-absent on ``(batch, round, slot)``, so a restarted engine finds
the round it was in rather than drawing new pairs; an outcome is written only while the
comparison is pending, so a verdict delivered twice is stored once; a state change and the
event announcing it go to the database (outbox) in the same transaction.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cjgrade.domain import Essay
from cjgrade.engine.dispatch import ComparisonOutcome
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec
from cjgrade.engine.spec_codec import spec_from_settings, spec_settings, text_ids
from cjgrade.errors import ConfigError, StorageError
from cjgrade.judges.base import Verdict
from cjgrade.store import (
    ComparisonRecord,
    GradeProjectionRecord,
    NewComparison,
    NewEssay,
    OutboxRecord,
    PendingNote,
    RoundFitRecord,
    RoundMetrics,
    Store,
    add_event,
    advance_round,
    check_rubric_override,
    claim_batch,
    claim_comparisons,
    count_batches,
    create_batch,
    get_texts,
    list_anchors,
    list_batch_essays,
    list_comparisons,
    list_resumable_batches,
    list_round_fits,
    list_unpublished,
    mark_published,
    put_text,
    record_failure,
    record_verdicts,
    release_batch,
    request_comparisons,
    require_assignment,
    require_batch,
    save_grade_projections,
    save_round_fit,
    set_batch_status,
    update_essay_estimates,
)
from cjgrade.store.records import NotFound

__all__ = [
    "LEASE_TTL_S",
    "BatchLedger",
    "Event",
    "StoredBatch",
    "lease_owner",
    "spec_for_assignment",
]

LEASE_TTL_S = 120.0
"""A batch's lease lasts this long unless renewed (the engine renews it every 30 s)."""

Event = tuple[str, str | None, dict[str, Any]]
"""``(topic, key, envelope as JSON)`` for the outbox."""


def lease_owner() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_dead(owner: str) -> bool:
    """True when ``owner`` is a process of this host that no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class StoredBatch:
    """A batch as the engine needs it to (re)start."""

    batch_uuid: str
    status: str
    current_round: int
    spec: BatchSpec
    failure_reason: str | None
    created_at: datetime
    finished_at: datetime | None


class BatchLedger:
    """All reads and writes of the engine."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- batches ---------------------------------------------------------------------

    async def create_batch(self, spec: BatchSpec, batch_uuid: str, events: list[Event]) -> None:
        """Write the batch, its essays, its texts and ``events`` in one transaction."""
        async with self.store.transaction() as session:
            for name, cid in text_ids(spec).items():
                if cid is not None:
                    await put_text(session, getattr(spec, name), name)
            settings = spec_settings(spec)
            essays = [
                NewEssay(essay_id=e.id, text=e.text, is_anchor=e.is_anchor, grade=e.grade,
                         label=e.label)
                for e in spec.essays
            ]
            await create_batch(
                session, essays, settings=settings, label=spec.label,
                assignment_id=spec.assignment_id,
                grade_scale=None if spec.assignment_id else spec.grade_scale,
                batch_id=batch_uuid,
            )
            for topic, key, payload in events:
                await add_event(session, topic, payload, key=key)

    async def load_batch(self, batch_uuid: str) -> StoredBatch:
        """The batch, its spec and its essays (texts included)."""
        async with self.store.transaction() as session:
            try:
                batch = await require_batch(session, batch_uuid)
            except NotFound:
                raise NotFound(
                    f"no batch {batch_uuid!r} in {self.store.display_url}; check the uuid "
                    "(`cjgrade run` prints it) and DATABASE_URL / CJGRADE_HOME"
                ) from None
            rows = await list_batch_essays(session, batch_uuid)
            s = dict(batch.settings)
            ids = [r.content_id for r in rows] + [t for t in s["texts"].values() if t]
            texts = await get_texts(session, ids)

        essays = tuple(
            Essay(id=r.essay_id, text=texts[r.content_id], is_anchor=r.is_anchor, grade=r.grade,
                  label=r.label)
            for r in rows
        )
        spec = spec_from_settings(s, essays, texts, grade_scale=batch.grade_scale,
                                  label=batch.label, assignment_id=batch.assignment_id)
        return StoredBatch(
            batch_uuid=batch_uuid, status=batch.status, current_round=batch.current_round,
            spec=spec, failure_reason=batch.failure_reason, created_at=batch.created_at,
            finished_at=batch.finished_at,
        )

    async def acquire(self, batch_uuid: str, owner: str) -> None:
        """Take the batch's lease and mark it running; refused while another live process
        holds it (a dead process of this host loses its lease at once)."""
        async with self.store.transaction() as session:
            batch = await require_batch(session, batch_uuid)
            holder = batch.lease_owner
            if holder and holder != owner and _owner_dead(holder):
                await release_batch(session, batch_uuid, holder)
            if not await claim_batch(session, batch_uuid, owner, ttl_s=LEASE_TTL_S):
                until = batch.lease_expires_at.isoformat() if batch.lease_expires_at else "?"
                raise ConfigError(
                    f"batch {batch_uuid} is being run by {holder} (lease until {until}); "
                    "wait for it to finish or for the lease to expire, then resume"
                )
            if batch.status == "created":
                await set_batch_status(session, batch_uuid, "running")

    async def renew(self, batch_uuid: str, owner: str) -> None:
        async with self.store.transaction() as session:
            if not await claim_batch(session, batch_uuid, owner, ttl_s=LEASE_TTL_S):
                raise StorageError(
                    f"lost the lease on batch {batch_uuid}; another process took it over: let it "
                    "finish, or resume the batch once it has stopped"
                )

    async def release(self, batch_uuid: str, owner: str) -> None:
        async with self.store.transaction() as session:
            await release_batch(session, batch_uuid, owner)

    async def finish(
        self, batch_uuid: str, status: str, *, failure_reason: str | None = None,
        events: list[Event] | None = None,
    ) -> list[int]:
        """Set a terminal status and queue the announcing events, in one transaction."""
        async with self.store.transaction() as session:
            batch = await require_batch(session, batch_uuid)
            if status == "completed" and batch.status != "finalising":
                await set_batch_status(session, batch_uuid, "finalising")
            await set_batch_status(session, batch_uuid, status,  # type: ignore[arg-type]
                                   failure_reason=failure_reason)
            return [await add_event(session, topic, payload, key=key)
                    for topic, key, payload in events or []]

    async def resumable(self) -> list[str]:
        """Unfinished batches whose lease is free, expired or held by a dead process of this
        host (oldest first): what a restarted orchestrator resumes."""
        from cjgrade.store.leases import list_lease_holders

        async with self.store.transaction() as session:
            rows = await list_resumable_batches(session)
            held = await list_lease_holders(session)
        free = [r.id for r in rows]
        return free + [b for b, owner in held if b not in free and _owner_dead(owner)]

    async def status(self, batch_uuid: str) -> str:
        """The batch's status as stored now (e.g. ``cancelled`` through the API meanwhile)."""
        async with self.store.transaction() as session:
            return (await require_batch(session, batch_uuid)).status

    async def count_batches(self) -> int:
        async with self.store.transaction() as session:
            return await count_batches(session)

    # --- events ------------------------------------------------------------------------

    async def add_events(self, events: list[Event]) -> list[int]:
        async with self.store.transaction() as session:
            return [await add_event(session, topic, payload, key=key)
                    for topic, key, payload in events]

    async def unpublished_events(
        self, *, ids: list[int] | None = None, key: str | None = None
    ) -> list[OutboxRecord]:
        async with self.store.transaction() as session:
            return await list_unpublished(session, ids=ids, key=key)

    async def mark_published(self, event_id: int) -> None:
        async with self.store.transaction() as session:
            await mark_published(session, [event_id])

    # --- comparisons -----------------------------------------------------------------

    async def add_round(
        self, batch_uuid: str, round_index: int, pairs: list[tuple[str, str, str | None]],
        *, claim: bool = False, first_slot: int = 0,
    ) -> list[ComparisonRecord]:
        """Request pairs ``(essay_a, essay_b, request_sha256)`` of a round in slots
        ``first_slot``, ``first_slot + 1``, ... (a round requested in two parts, pipelined, has
        its rest after its early part). Returns these slots' comparisons. With ``claim`` they
        are also marked dispatched in the same transaction (what :meth:`claim_pending` does,
        one commit fewer per part); the engine claims every comparison it requests, so the
        never-dispatched ones claimed are exactly these."""
        async with self.store.transaction() as session:
            rows = await request_comparisons(
                session, batch_uuid, round_index,
                [NewComparison(slot=first_slot + i, essay_a=a, essay_b=b, request_sha256=h)
                 for i, (a, b, h) in enumerate(pairs)],
            )
            await advance_round(session, batch_uuid, round_index)
            if claim:
                await claim_comparisons(session, batch_uuid, limit=len(pairs),
                                        redispatch_after_s=None)
        slots = range(first_slot, first_slot + len(pairs))
        return [c for c in rows if c.slot in slots]

    async def comparisons(
        self, batch_uuid: str, round_index: int | None = None
    ) -> list[ComparisonRecord]:
        """The batch's comparisons (of one round when ``round_index`` is given)."""
        async with self.store.transaction() as session:
            rows = await list_comparisons(session, batch_uuid, round_=round_index)
        return rows

    async def claim_pending(self, batch_uuid: str, limit: int) -> list[ComparisonRecord]:
        """Mark the pending comparisons dispatched (a resumed batch re-claims its own)."""
        async with self.store.transaction() as session:
            rows = await claim_comparisons(session, batch_uuid, limit=limit,
                                           redispatch_after_s=0.0)
        return rows

    async def record_outcome(self, outcome: ComparisonOutcome) -> bool:
        """Store an outcome for a pending comparison; False when it was already stored."""
        return (await self.record_outcomes([outcome]))[0]

    async def record_outcomes(self, outcomes: list[ComparisonOutcome]) -> list[bool]:
        """Store outcomes that have arrived, in one transaction (a group commit); per outcome,
        False when it was already stored (a duplicate delivery)."""
        stored: list[bool] = []
        async with self.store.transaction() as session:
            verdicts: list[tuple[int, Verdict]] = []  # consecutive verdicts, stored together
            for outcome in outcomes:
                if outcome.verdict is not None:
                    verdicts.append((outcome.comparison_id, outcome.verdict))
                    continue
                stored += await record_verdicts(session, verdicts)  # in arrival order
                verdicts = []
                spend = outcome.billed
                ok = await record_failure(
                    session, outcome.comparison_id, outcome.error_code or "UnknownFailure",
                    outcome.error_reason or "no reason given", final=True,
                    usage=spend.usage if spend is not None else None,
                    cost_usd=spend.cost_usd if spend is not None else None,
                    attempts=outcome.attempts,
                    unknown_cost=spend is not None and spend.cost_usd is None,
                )
                stored.append(ok)
            stored += await record_verdicts(session, verdicts)
        return stored

    async def note_pending(self, comparison_ids: Sequence[int], note: PendingNote) -> None:
        """Note on pending comparisons what they are waiting for (e.g. a provider batch's
        handle), in one transaction; they stay pending, and their outcome replaces the note
        (read back as :attr:`ComparisonRecord.pending_note`)."""
        async with self.store.transaction() as session:
            for cid in comparison_ids:
                await record_failure(session, cid, note.code, note.reason, final=False,
                                     raw_response=note.detail)

    # --- fits and results --------------------------------------------------------------

    async def record_fit(
        self, batch_uuid: str, round_index: int, *, theta: dict[str, float],
        se: dict[str, float], ssr: float | None, n_comparisons: int, stop: bool,
        stop_reason: str | None, metrics: RoundMetrics,
    ) -> None:
        """Store a round's fit and move the batch to the next round, atomically."""
        async with self.store.transaction() as session:
            await save_round_fit(
                session, batch_uuid, round_index, theta=theta, se=se,
                n_comparisons=n_comparisons, ssr=ssr, stop=stop, stop_reason=stop_reason,
                metrics=metrics,
            )
            await update_essay_estimates(
                session, batch_uuid, {e: (theta[e], se[e]) for e in theta}
            )
            await advance_round(session, batch_uuid, round_index + 1)

    async def fits(self, batch_uuid: str) -> list[RoundFitRecord]:
        """The batch's round fits, by round."""
        async with self.store.transaction() as session:
            return await list_round_fits(session, batch_uuid)

    async def complete(
        self, batch_uuid: str, estimates: dict[str, tuple[float, float]],
        projections: list[GradeProjectionRecord], events: list[Event],
    ) -> None:
        """Final estimates, grade projections, status ``completed`` and the completion
        events, all in one transaction."""
        async with self.store.transaction() as session:
            await update_essay_estimates(session, batch_uuid, estimates)
            if projections:
                await save_grade_projections(session, batch_uuid, projections)
            batch = await require_batch(session, batch_uuid)
            if batch.status != "finalising":
                await set_batch_status(session, batch_uuid, "finalising")
            await set_batch_status(session, batch_uuid, "completed")
            for topic, key, payload in events:
                await add_event(session, topic, payload, key=key)




async def spec_for_assignment(
    store: Store,
    assignment_id: str,
    students: Sequence[Essay],
    *,
    judge: str,
    options: BatchOptions | None = None,
    label: str | None = None,
    rubric_override: str | None = None,
    grades_requested: bool = True,
) -> BatchSpec:
    """A batch bound to a stored assignment: its instructions, student prompt, judge rubric,
    grade scale and registered anchors (of that scale) come from the store, as in the
    original; a rubric override is refused for a ``canonical_national`` assignment."""
    async with store.transaction() as session:
        assignment = await require_assignment(session, assignment_id)
        check_rubric_override(assignment, rubric_override)
        anchors = await list_anchors(session, assignment.id, assignment.grade_scale)
        texts = await get_texts(session, [a.content_id for a in anchors]) if anchors else {}
    anchor_essays = tuple(
        Essay(id=f"anchor:{a.label}", text=texts[a.content_id], is_anchor=True, grade=a.grade,
              label=a.label)
        for a in anchors
    )
    return BatchSpec(
        essays=anchor_essays + tuple(students),
        instructions=assignment.instructions,
        student_prompt=assignment.student_prompt or "",
        rubric=rubric_override if rubric_override is not None else (
            assignment.judge_rubric or ""),
        judge=judge,
        grade_scale=assignment.grade_scale,
        label=label,
        assignment_id=assignment.id,
        grades_requested=grades_requested,
        options=options or BatchOptions(),
    )
