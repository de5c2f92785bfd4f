"""Comparisons: requested once per pair slot, a verdict stored once.

Life of a comparison::

    request_comparisons  -> pending (one row per (batch, round, slot); re-requesting is a no-op)
    claim_comparisons    -> dispatched_at set, attempts + 1 (workers; SKIP LOCKED on PostgreSQL)
    record_verdict       -> succeeded   (only from pending: a duplicate delivery changes nothing)
    record_failure       -> failed      (final) or stays pending with the error noted (retry)

After a crash the engine lists the round's comparisons: succeeded ones are kept, pending ones are
dispatched again (the judge response cache makes the repeat free), nothing is requested twice.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Table,
    Update,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.errors import InputError, StorageError
from cjgrade.judges.base import Usage, Verdict
from cjgrade.store._sql import dialect_insert, refresh_statistics
from cjgrade.store.models import BatchEssay, Comparison, utcnow
from cjgrade.store.records import (
    ComparisonRecord,
    ComparisonStatus,
    NewComparison,
    NotFound,
    record_from_row,
)

__all__ = [
    "claim_comparisons",
    "count_comparisons",
    "list_comparisons",
    "record_failure",
    "record_verdict",
    "record_verdicts",
    "request_comparisons",
]


def _record(row: Any) -> ComparisonRecord:
    """A record from a row of the comparisons table (a Core row: loading the rows as ORM
    objects costs several times more, and a round can hold thousands)."""
    return record_from_row(
        ComparisonRecord,
        row,
        flags=tuple(row.flags or ()),
        status=cast(ComparisonStatus, row.status),
    )


async def request_comparisons(
    session: AsyncSession, batch_id: str, round_: int, pairs: Sequence[NewComparison]
) -> list[ComparisonRecord]:
    """Insert the round's pair slots unless present; return all of the round's comparisons.

    Idempotent: requesting the same slots again (after a crash) inserts nothing. A slot that
    already holds a *different* pair raises :class:`StorageError` (the engine must reuse the
    stored round instead of drawing a new one).
    """
    slots = [p.slot for p in pairs]
    if len(set(slots)) != len(slots):
        raise InputError("pair slots within a round must be unique")
    for p in pairs:
        if p.essay_a == p.essay_b:
            raise InputError(f"slot {p.slot}: an essay cannot be compared with itself")
    members = set(
        await session.scalars(select(BatchEssay.essay_id).where(BatchEssay.batch_id == batch_id))
    )
    if not members:
        raise NotFound(f"unknown batch {batch_id!r} (or it has no essays)")
    strangers = sorted({e for p in pairs for e in (p.essay_a, p.essay_b)} - members)
    if strangers:
        raise InputError(f"essays {strangers[:5]} are not in batch {batch_id}")
    if pairs:
        now = utcnow()
        rows = [
            {
                "batch_id": batch_id,
                "round": round_,
                "slot": p.slot,
                "essay_a": p.essay_a,
                "essay_b": p.essay_b,
                "request_sha256": p.request_sha256,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for p in pairs
        ]
        stmt = dialect_insert(session, cast(Table, Comparison.__table__)).on_conflict_do_nothing(
            index_elements=["batch_id", "round", "slot"]
        )
        await session.execute(stmt, rows)
        await refresh_statistics(session, Comparison, added=len(rows))
    stored = await list_comparisons(session, batch_id, round_=round_)
    by_slot = {c.slot: c for c in stored}
    for p in pairs:
        have = by_slot[p.slot]
        if (have.essay_a, have.essay_b) != (p.essay_a, p.essay_b):
            raise StorageError(
                f"batch {batch_id} round {round_} slot {p.slot} already holds "
                f"{have.essay_a} vs {have.essay_b}, not {p.essay_a} vs {p.essay_b}"
            )
    return stored


async def list_comparisons(
    session: AsyncSession,
    batch_id: str,
    *,
    round_: int | None = None,
    status: ComparisonStatus | None = None,
) -> list[ComparisonRecord]:
    """A batch's comparisons ordered by round and slot."""
    table = cast(Table, Comparison.__table__)
    stmt = (
        select(table)
        .where(table.c.batch_id == batch_id)
        .order_by(table.c.round, table.c.slot)
    )
    if round_ is not None:
        stmt = stmt.where(table.c.round == round_)
    if status is not None:
        stmt = stmt.where(table.c.status == status)
    return [_record(r) for r in await session.execute(stmt)]


async def count_comparisons(
    session: AsyncSession, batch_id: str, *, round_: int | None = None
) -> dict[str, int]:
    """``{"pending": n, "succeeded": n, "failed": n}`` for the batch (or one round)."""
    stmt = select(Comparison.status, func.count()).where(Comparison.batch_id == batch_id)
    if round_ is not None:
        stmt = stmt.where(Comparison.round == round_)
    counts = {"pending": 0, "succeeded": 0, "failed": 0}
    for status, n in (await session.execute(stmt.group_by(Comparison.status))).all():
        counts[status] = int(n)
    return counts


async def claim_comparisons(
    session: AsyncSession,
    batch_id: str,
    *,
    limit: int = 100,
    redispatch_after_s: float | None = None,
) -> list[ComparisonRecord]:
    """Mark up to ``limit`` pending comparisons as dispatched (attempts + 1) and return them.

    Never-dispatched ones come first; with ``redispatch_after_s`` also those dispatched longer
    ago than that (their worker presumably died). On PostgreSQL, rows locked by a concurrent
    claimer are skipped, so two workers never get the same comparison.
    """
    now = utcnow()
    ready: ColumnElement[bool] = Comparison.dispatched_at.is_(None)
    if redispatch_after_s is not None:
        cutoff = now - timedelta(seconds=redispatch_after_s)
        ready = or_(ready, Comparison.dispatched_at < cutoff)
    chosen = (
        select(Comparison.id)
        .where(Comparison.batch_id == batch_id, Comparison.status == "pending", ready)
        .order_by(Comparison.dispatched_at.is_not(None), Comparison.round, Comparison.slot)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED")
    )
    # One statement for the whole claim. The choice is a materialised CTE: as a plain
    # ``IN (subquery)`` PostgreSQL may rescan the subquery per row, and SKIP LOCKED then skips
    # the rows this very statement has just updated, so LIMIT would no longer bound the claim.
    # The WHERE repeats the readiness test, so a row that a concurrent claimer took first
    # (SQLite: writes are serialised; PostgreSQL: its lock is skipped, or the condition is
    # re-checked once it commits) is not claimed twice.
    result = await session.execute(
        update(Comparison)
        .where(Comparison.id.in_(select(chosen.c.id)), Comparison.status == "pending", ready)
        .values(dispatched_at=now, attempts=Comparison.attempts + 1)
        .returning(Comparison.id)
        .execution_options(synchronize_session=False)
    )
    claimed = list(result.scalars())
    if not claimed:
        return []
    table = cast(Table, Comparison.__table__)
    rows = await session.execute(
        select(table).where(table.c.id.in_(claimed)).order_by(table.c.round, table.c.slot)
    )
    return [_record(r) for r in rows]


async def _finish(session: AsyncSession, comparison_id: int, values: dict[str, object]) -> bool:
    """Compare-and-set: update only while pending (atomic on SQLite and PostgreSQL alike)."""
    result = await session.execute(
        update(Comparison)
        .where(Comparison.id == comparison_id, Comparison.status == "pending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0):
        return True
    if await session.scalar(select(Comparison.id).where(Comparison.id == comparison_id)) is None:
        raise NotFound(f"unknown comparison {comparison_id}")
    return False


async def record_verdict(session: AsyncSession, comparison_id: int, verdict: Verdict) -> bool:
    """Store a verdict; True if stored now, False if the comparison was already final.

    Raises :class:`StorageError` when the verdict's request hash differs from the one recorded
    at request time (a stale or misrouted callback), :class:`InputError` for ``p_a`` outside
    [0, 1].
    """
    return (await record_verdicts(session, [(comparison_id, verdict)]))[0]


VERDICTS_PER_STATEMENT = 128
"""Verdicts stored by one UPDATE at most (about 20 parameters each, well inside the drivers'
limits). A statement holds a power of two of them (the last one repeated to fill it), so a
handful of statement shapes is compiled once and reused, instead of one per group size."""


async def record_verdicts(
    session: AsyncSession, verdicts: Sequence[tuple[int, Verdict]]
) -> list[bool]:
    """Store verdicts ``(comparison_id, verdict)`` with one statement per
    :data:`VERDICTS_PER_STATEMENT` (what a group of arrivals costs the database, not a round
    trip per verdict). Per verdict: True if stored now, False if its comparison was already
    final or an earlier verdict of the same call took it. Every verdict is checked first (as
    :func:`record_verdict`): a bad one raises and nothing is stored.

    Each UPDATE is a compare-and-set over its comparisons (``WHERE status = 'pending'``, the
    new values chosen per row by ``CASE id``) that returns the rows it changed, so a verdict
    stored concurrently by another transaction is never counted twice, on SQLite and
    PostgreSQL alike.
    """
    for _, verdict in verdicts:
        if not (0.0 <= verdict.p_a <= 1.0) or math.isnan(verdict.p_a):
            raise InputError(f"verdict p_a={verdict.p_a} is outside [0, 1]")
    if not verdicts:
        return []
    ids = sorted({cid for cid, _ in verdicts})
    requested = {row.id: row.request_sha256 for row in await session.execute(
        select(Comparison.id, Comparison.request_sha256).where(Comparison.id.in_(ids)))}
    first: dict[int, int] = {}  # comparison -> position of its first verdict
    values: dict[int, dict[str, object]] = {}
    for position, (cid, verdict) in enumerate(verdicts):
        if cid not in requested:
            raise NotFound(f"unknown comparison {cid}")
        sha = requested[cid]
        if sha and verdict.request_sha256 != sha:
            raise StorageError(
                f"comparison {cid} was requested with {sha[:12]}… but the verdict answers "
                f"{verdict.request_sha256[:12]}…; refusing a stale callback"
            )
        if cid not in first:
            first[cid] = position
            values[cid] = _verdict_values(verdict, sha)
    changed: set[int] = set()
    chosen = list(values.items())
    now = utcnow()
    for start in range(0, len(chosen), VERDICTS_PER_STATEMENT):
        changed |= await _store_verdicts(session, chosen[start:start + VERDICTS_PER_STATEMENT],
                                         now)
    return [cid in changed and first[cid] == position
            for position, (cid, _) in enumerate(verdicts)]


async def _store_verdicts(
    session: AsyncSession, rows: list[tuple[int, dict[str, object]]], now: datetime
) -> set[int]:
    """One compare-and-set UPDATE of ``rows`` ``(comparison id, values)``; the ids it
    changed."""
    items = list(rows)
    size = 1 << (len(items) - 1).bit_length()  # the next power of two
    items += [items[-1]] * (size - len(items))  # a repeated WHEN changes nothing
    params: dict[str, object] = {"v_now": now}
    for k, (cid, vals) in enumerate(items):
        params[f"v_cid_{k}"] = cid
        params.update({f"v_{name}_{k}": vals[name] for name in _VERDICT_COLUMNS})
    result = await session.execute(_verdicts_update(size), params)
    return set(result.scalars())


@functools.cache
def _verdicts_update(size: int) -> Update:
    """The UPDATE storing ``size`` verdicts, built once per size: parameters ``v_now``,
    ``v_cid_K`` and ``v_<column>_K`` for K in ``range(size)``."""
    table = cast(Table, Comparison.__table__)
    ids: list[BindParameter[int]] = [bindparam(f"v_cid_{k}") for k in range(size)]
    values: dict[str, object] = {
        name: case(*[(table.c.id == ids[k],
                      bindparam(f"v_{name}_{k}", type_=table.c[name].type))
                     for k in range(size)])
        for name in _VERDICT_COLUMNS
    }
    values.update(status="succeeded", error_code=None, error_reason=None,
                  completed_at=bindparam("v_now", type_=table.c.completed_at.type))
    return (update(table).where(table.c.id.in_(ids), table.c.status == "pending")
            .values(values).returning(table.c.id))


_VERDICT_COLUMNS = (
    "request_sha256", "winner", "p_a", "confidence", "justification", "flags", "provider",
    "model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "cost_usd", "latency_s", "raw_response", "attempts",
)


def _verdict_values(verdict: Verdict, requested: str | None) -> dict[str, object]:
    """The columns a verdict sets that differ between verdicts."""
    usage = verdict.usage
    return {
        "request_sha256": requested or verdict.request_sha256,
        "winner": verdict.winner.value,
        "p_a": verdict.p_a,
        "confidence": verdict.confidence,
        "justification": verdict.justification,
        "flags": list(verdict.flags),
        "provider": verdict.provider,
        "model": verdict.model,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cost_usd": verdict.cost_usd,
        "latency_s": verdict.latency_s,
        "raw_response": verdict.raw_response,
        "attempts": verdict.attempts,
    }


async def record_failure(
    session: AsyncSession,
    comparison_id: int,
    code: str,
    reason: str,
    *,
    final: bool = True,
    raw_response: str | None = None,
    usage: Usage | None = None,
    cost_usd: float | None = None,
    attempts: int | None = None,
    unknown_cost: bool = False,
) -> bool:
    """Note a failed attempt. ``final`` marks the comparison failed (no winner, ever); otherwise
    it stays pending for a retry. False when the comparison was already final.

    ``usage`` and ``cost_usd`` are what the provider billed for the failed comparison (invalid
    replies are billed too), ``attempts`` the provider requests it took (0 when an open circuit
    refused every call); all are written in the same compare-and-set UPDATE. Billed tokens with
    ``cost_usd=None`` store a NULL cost: an unknown price, which makes the batch's total unknown
    (:attr:`ComparisonRecord.spend_usd`, the one unknown-cost rule), never 0. ``unknown_cost``
    marks a failure that was billed an amount nobody knows (the server's usage report was
    unusable): 0 tokens and a NULL cost are written, so it counts as unknown too. Nothing
    billed (no usage, or zero tokens and no cost) leaves the usage columns NULL, which the
    totals read as 0.
    """
    if attempts is not None and attempts < 0:
        raise InputError(f"attempts={attempts} is negative")
    if cost_usd is not None and not (math.isfinite(cost_usd) and cost_usd >= 0.0):
        raise InputError(f"cost_usd={cost_usd} is not a finite non-negative amount")
    values: dict[str, object] = {"error_code": code[:100], "error_reason": reason}
    if raw_response is not None:
        values["raw_response"] = raw_response
    values.update(_billed_values(usage or (Usage() if unknown_cost else None),
                                 None if unknown_cost else cost_usd, unknown_cost))
    if attempts is not None:
        values["attempts"] = attempts
    if final:
        values.update(status="failed", completed_at=utcnow())
    return await _finish(session, comparison_id, values)


def _billed_values(usage: Usage | None, cost_usd: float | None,
                   unknown_cost: bool = False) -> dict[str, object]:
    """The usage columns of a failure: empty when nothing was billed."""
    tokens = (
        (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
         usage.cache_write_tokens)
        if usage is not None
        else (0, 0, 0, 0)
    )
    if any(t < 0 for t in tokens):
        raise InputError(f"billed usage {usage} has a negative token count")
    if not any(tokens) and not cost_usd and not unknown_cost:
        return {}
    return {
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "cache_read_tokens": tokens[2],
        "cache_write_tokens": tokens[3],
        "cost_usd": cost_usd,
    }
