"""The engine's persistence: batches, their essays, comparisons, round fits, projections and
outbox events, on the store's tables (``cjgrade.store.models``).

Crash safety comes from the store's constraints: a round's pairs are inserted with
insert-if-absent on ``(batch_id, round, slot)``, so a restarted engine finds the round it was
in rather than asking new pairs; an outcome is written with ``UPDATE ... WHERE status =
'pending'``, so a verdict delivered twice is stored once.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from cjgrade.domain import Essay
from cjgrade.engine.dispatch import ComparisonOutcome
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec
from cjgrade.errors import ConfigError, StorageError
from cjgrade.store import Store, get_texts, put_text, utcnow
from cjgrade.store._sql import insert_if_absent, upsert
from cjgrade.store.models import (
    Batch,
    BatchEssay,
    Comparison,
    GradeProjection,
    OutboxEvent,
    RoundFit,
)
from cjgrade.store.records import NotFound

__all__ = ["BatchLedger", "StoredBatch", "StoredComparison", "StoredFit", "lease_owner"]

LEASE = timedelta(minutes=5)


def lease_owner() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: trust the lease expiry
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class StoredComparison:
    id: int
    round: int
    slot: int
    essay_a: str
    essay_b: str
    status: str
    winner: str | None = None
    p_a: float | None = None
    provider: str | None = None
    model: str | None = None
    row: dict[str, Any] = field(default_factory=dict, repr=False)
    """Every column, for the artefact."""


@dataclass(frozen=True)
class StoredFit:
    round: int
    theta: dict[str, float]
    se: dict[str, float]
    ssr: float | None
    n_comparisons: int
    stop: bool
    stop_reason: str | None
    details: dict[str, Any]


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
    """All reads and writes of the engine, each in its own short transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- batches ---------------------------------------------------------------------

    async def create_batch(self, spec: BatchSpec) -> str:
        """Write the batch and its essays in one transaction; return the new batch uuid."""
        batch_uuid = str(uuid.uuid4())
        now = utcnow()
        async with self.store.transaction() as session:
            texts: dict[str, str | None] = {}
            for name in ("instructions", "student_prompt", "rubric", "system_prompt"):
                value = getattr(spec, name)
                texts[name] = await put_text(session, value, name) if value.strip() else None
            settings = {
                "judge": spec.judge,
                "base_url": spec.base_url,
                "grades_requested": spec.grades_requested,
                "assignment_ref": spec.assignment_ref,
                "options": spec.options.to_dict(),
                "texts": texts,
                "inputs": spec.inputs,
                "started_at": now.isoformat(),
            }
            session.add(
                Batch(
                    id=batch_uuid, label=spec.label, assignment_id=spec.assignment_id,
                    grade_scale=spec.grade_scale, status="created", settings=settings,
                    current_round=0, created_at=now, updated_at=now,
                )
            )
            await session.flush()
            for position, essay in enumerate(spec.essays):
                cid = await put_text(session, essay.text, f"essay {essay.id}")
                session.add(
                    BatchEssay(
                        batch_id=batch_uuid, essay_id=essay.id, position=position,
                        content_id=cid, is_anchor=essay.is_anchor, grade=essay.grade,
                        label=essay.label,
                    )
                )
        return batch_uuid

    async def load_batch(self, batch_uuid: str) -> StoredBatch:
        """The batch, its spec and its essays (texts included)."""
        async with self.store.transaction() as session:
            batch = await session.get(Batch, batch_uuid)
            if batch is None:
                raise NotFound(
                    f"no batch {batch_uuid!r} in {self.store.display_url}; check the uuid "
                    "(`cjgrade run` prints it) and DATABASE_URL / CJGRADE_HOME"
                )
            rows = (
                await session.scalars(
                    select(BatchEssay).where(BatchEssay.batch_id == batch_uuid)
                    .order_by(BatchEssay.position)
                )
            ).all()
            s = batch.settings
            ids = [r.content_id for r in rows] + [t for t in s["texts"].values() if t]
            texts = await get_texts(session, ids)

        def text(name: str) -> str:
            cid = s["texts"].get(name)
            return texts[cid] if cid else ""

        essays = tuple(
            Essay(id=r.essay_id, text=texts[r.content_id], is_anchor=r.is_anchor, grade=r.grade,
                  label=r.label)
            for r in rows
        )
        spec = BatchSpec(
            essays=essays,
            instructions=text("instructions"),
            student_prompt=text("student_prompt"),
            rubric=text("rubric"),
            system_prompt=text("system_prompt"),
            judge=s["judge"],
            grade_scale=batch.grade_scale,
            label=batch.label,
            assignment_id=batch.assignment_id,
            assignment_ref=s.get("assignment_ref"),
            base_url=s.get("base_url"),
            grades_requested=s.get("grades_requested", True),
            options=BatchOptions.from_dict(s.get("options", {})),
            inputs=s.get("inputs", {}),
        )
        return StoredBatch(
            batch_uuid=batch_uuid, status=batch.status, current_round=batch.current_round,
            spec=spec, failure_reason=batch.failure_reason, created_at=batch.created_at,
            finished_at=batch.finished_at,
        )

    async def acquire(self, batch_uuid: str, owner: str) -> None:
        """Take the batch's lease (refused while another live process holds it)."""
        now = utcnow()
        async with self.store.transaction() as session:
            batch = await session.get(Batch, batch_uuid, with_for_update=True)
            if batch is None:
                raise NotFound(f"no batch {batch_uuid!r}")
            holder, expires = batch.lease_owner, batch.lease_expires_at
            if (
                holder and holder != owner and expires is not None and expires > now
                and _owner_alive(holder)
            ):
                raise ConfigError(
                    f"batch {batch_uuid} is being run by {holder} (lease until "
                    f"{expires.isoformat()}); wait for it to finish or for the lease to expire"
                )
            batch.lease_owner = owner
            batch.lease_expires_at = now + LEASE
            if batch.status == "created":
                batch.status = "running"
            batch.updated_at = now

    async def release(self, batch_uuid: str, owner: str) -> None:
        async with self.store.transaction() as session:
            await session.execute(
                update(Batch).where(Batch.id == batch_uuid, Batch.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    async def finish(
        self, batch_uuid: str, status: str, *, failure_reason: str | None = None,
        events: list[tuple[str, str | None, dict[str, Any]]] = (),  # type: ignore[assignment]
    ) -> list[int]:
        """Set a terminal status and write the announcing events to the outbox, atomically."""
        now = utcnow()
        async with self.store.transaction() as session:
            await session.execute(
                update(Batch).where(Batch.id == batch_uuid).values(
                    status=status, failure_reason=failure_reason, finished_at=now,
                    updated_at=now, lease_owner=None, lease_expires_at=None,
                )
            )
            return await self._add_events(session, events)

    async def _add_events(
        self, session: Any, events: list[tuple[str, str | None, dict[str, Any]]]
    ) -> list[int]:
        ids = []
        for topic, key, payload in events:
            row = OutboxEvent(topic=topic, key=key, payload=payload, created_at=utcnow())
            session.add(row)
            await session.flush()
            ids.append(row.id)
        return ids

    async def add_events(self, events: list[tuple[str, str | None, dict[str, Any]]]) -> list[int]:
        async with self.store.transaction() as session:
            return await self._add_events(session, events)

    async def unpublished_events(
        self, *, ids: list[int] | None = None, key: str | None = None
    ) -> list[OutboxEvent]:
        async with self.store.transaction() as session:
            stmt = select(OutboxEvent).where(OutboxEvent.published_at.is_(None))
            if ids is not None:
                stmt = stmt.where(OutboxEvent.id.in_(ids))
            if key is not None:
                stmt = stmt.where(OutboxEvent.key == key)
            return list((await session.scalars(stmt.order_by(OutboxEvent.id))).all())

    async def mark_published(self, event_id: int) -> None:
        async with self.store.transaction() as session:
            await session.execute(
                update(OutboxEvent).where(OutboxEvent.id == event_id)
                .values(published_at=utcnow())
            )

    # --- comparisons -----------------------------------------------------------------

    async def add_round(
        self, batch_uuid: str, round_index: int, pairs: list[tuple[str, str]]
    ) -> None:
        """Insert a round's pairs (slot = position in ``pairs``) unless already there."""
        now = utcnow()
        async with self.store.transaction() as session:
            for slot, (a, b) in enumerate(pairs):
                await insert_if_absent(
                    session, Comparison,
                    {"batch_id": batch_uuid, "round": round_index, "slot": slot, "essay_a": a,
                     "essay_b": b, "status": "pending", "created_at": now},
                    conflict=["batch_id", "round", "slot"],
                )

    async def comparisons(self, batch_uuid: str) -> list[StoredComparison]:
        async with self.store.transaction() as session:
            rows = (
                await session.scalars(
                    select(Comparison).where(Comparison.batch_id == batch_uuid)
                    .order_by(Comparison.round, Comparison.slot)
                )
            ).all()
        out = []
        for r in rows:
            data = {c.key: getattr(r, c.key) for c in Comparison.__table__.columns}
            out.append(
                StoredComparison(
                    id=r.id, round=r.round, slot=r.slot, essay_a=r.essay_a, essay_b=r.essay_b,
                    status=r.status, winner=r.winner, p_a=r.p_a, provider=r.provider,
                    model=r.model, row=data,
                )
            )
        return out

    async def mark_dispatched(self, ids: list[int], request_sha256: dict[int, str]) -> None:
        now = utcnow()
        async with self.store.transaction() as session:
            for cid in ids:
                await session.execute(
                    update(Comparison).where(Comparison.id == cid, Comparison.status == "pending")
                    .values(dispatched_at=now, request_sha256=request_sha256.get(cid),
                            attempts=Comparison.attempts + 1)
                )

    async def record_outcome(self, outcome: ComparisonOutcome) -> bool:
        """Store an outcome for a pending comparison; False when it was already stored."""
        values: dict[str, Any] = {"completed_at": utcnow()}
        v = outcome.verdict
        if v is not None:
            values.update(
                status="succeeded", winner=v.winner.value, p_a=v.p_a, confidence=v.confidence,
                justification=v.justification, flags=list(v.flags), provider=v.provider,
                model=v.model, request_sha256=v.request_sha256 or None,
                input_tokens=v.usage.input_tokens, output_tokens=v.usage.output_tokens,
                cache_read_tokens=v.usage.cache_read_tokens,
                cache_write_tokens=v.usage.cache_write_tokens, cost_usd=v.cost_usd,
                latency_s=v.latency_s, raw_response=v.raw_response,
            )
        else:
            values.update(status="failed", error_code=outcome.error_code,
                          error_reason=outcome.error_reason)
        async with self.store.transaction() as session:
            result = await session.execute(
                update(Comparison)
                .where(Comparison.id == outcome.comparison_id, Comparison.status == "pending")
                .values(**values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def renew(self, batch_uuid: str, owner: str) -> None:
        async with self.store.transaction() as session:
            result = await session.execute(
                update(Batch).where(Batch.id == batch_uuid, Batch.lease_owner == owner)
                .values(lease_expires_at=utcnow() + LEASE, updated_at=utcnow())
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise StorageError(
                    f"lost the lease on batch {batch_uuid}; another process took it over"
                )

    # --- fits and projections ----------------------------------------------------------

    async def record_fit(self, batch_uuid: str, fit: StoredFit, next_round: int) -> None:
        """Store a round's fit and move the batch to ``next_round`` in one transaction."""
        async with self.store.transaction() as session:
            await upsert(
                session, RoundFit,
                {"batch_id": batch_uuid, "round": fit.round, "theta": fit.theta, "se": fit.se,
                 "ssr": fit.ssr, "n_comparisons": fit.n_comparisons, "stop": fit.stop,
                 "stop_reason": fit.stop_reason, "details": fit.details,
                 "created_at": utcnow()},
                conflict=["batch_id", "round"],
                update=["theta", "se", "ssr", "n_comparisons", "stop", "stop_reason", "details"],
            )
            await session.execute(
                update(Batch).where(Batch.id == batch_uuid)
                .values(current_round=next_round, updated_at=utcnow())
            )

    async def fits(self, batch_uuid: str) -> list[StoredFit]:
        async with self.store.transaction() as session:
            rows = (
                await session.scalars(
                    select(RoundFit).where(RoundFit.batch_id == batch_uuid)
                    .order_by(RoundFit.round)
                )
            ).all()
        return [
            StoredFit(round=r.round, theta=r.theta, se=r.se, ssr=r.ssr,
                      n_comparisons=r.n_comparisons, stop=r.stop, stop_reason=r.stop_reason,
                      details=r.details or {})
            for r in rows
        ]

    async def save_results(
        self, batch_uuid: str, essays: list[dict[str, Any]], projections: list[dict[str, Any]]
    ) -> None:
        """Final theta/SE/counts per essay and the students' grade projections."""
        async with self.store.transaction() as session:
            for e in essays:
                await session.execute(
                    update(BatchEssay)
                    .where(BatchEssay.batch_id == batch_uuid, BatchEssay.essay_id == e["essay_id"])
                    .values(theta=e["theta"], se=e["se"], n_comparisons=e["n_comparisons"],
                            n_wins=e["wins"])
                )
            for p in projections:
                await upsert(
                    session, GradeProjection,
                    {"batch_id": batch_uuid, "created_at": utcnow(), **p},
                    conflict=["batch_id", "essay_id"],
                    update=["grade_scale", "probabilities", "most_likely", "expected",
                            "confidence", "confidence_label", "details"],
                )

    async def find_unfinished(self) -> list[str]:
        """Batches that were created or running: candidates for resumption."""
        async with self.store.transaction() as session:
            rows = await session.scalars(
                select(Batch.id).where(Batch.status.in_(("created", "running")))
                .order_by(Batch.created_at)
            )
            return list(rows.all())

    async def count_batches(self) -> int:
        async with self.store.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(Batch)) or 0)
