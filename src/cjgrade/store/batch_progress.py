"""Where batches stand: progress of one batch and a page of batches, for the batches API.

Read-only summaries assembled in a handful of grouped queries (never one query per
comparison): essays, comparisons by status against the planned budget, the reliability of the
latest round fit, and the cost so far (a lower bound while some prices are unknown).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.judges.cost import spend_of
from cjgrade.store.batches import require_batch
from cjgrade.store.models import Batch, BatchEssay, Comparison, RoundFit
from cjgrade.store.records import BatchRecord, BatchStatus, RoundMetrics

__all__ = ["BatchProgress", "batch_progress", "list_batch_progress"]

@dataclass(frozen=True)
class BatchProgress:
    """One batch and how far it has got."""

    batch: BatchRecord
    n_students: int
    n_anchors: int
    budget: int | None
    """The stored ``budget`` option (None: the engine's default per essay; the API resolves
    it with ``BatchOptions.resolved_budget``)."""
    succeeded: int
    failed: int
    pending: int
    cost_usd: float
    """Sum of the known costs so far (:func:`cjgrade.judges.cost.spend_of` per comparison)."""
    n_cost_unknown: int
    """Comparisons billed at an unknown price: when > 0, ``cost_usd`` is a lower bound."""
    rounds_fitted: int
    reliability: float | None
    """Posterior reliability of the latest round fit (what the stopping rule reads)."""
    ssr: float | None
    """SSR of the latest round fit."""
    stop_reason: str | None

    @property
    def done(self) -> int:
        """Comparisons answered (succeeded or failed)."""
        return self.succeeded + self.failed

    @property
    def judge(self) -> str | None:
        value = self.batch.settings.get("judge")
        return value if isinstance(value, str) else None


def _budget(settings: dict[str, Any]) -> int | None:
    budget = (settings.get("options") or {}).get("budget")
    return budget if isinstance(budget, int) and not isinstance(budget, bool) else None


async def _progress_of(
    session: AsyncSession, batches: Sequence[BatchRecord]
) -> list[BatchProgress]:
    ids = [b.id for b in batches]
    if not ids:
        return []
    essays: dict[tuple[str, bool], int] = {}
    essay_rows = await session.execute(
        select(BatchEssay.batch_id, BatchEssay.is_anchor, func.count())
        .where(BatchEssay.batch_id.in_(ids))
        .group_by(BatchEssay.batch_id, BatchEssay.is_anchor)
    )
    for e_batch, is_anchor, n_essays in essay_rows.all():
        essays[(e_batch, bool(is_anchor))] = int(n_essays)
    counts: dict[tuple[str, str], int] = {}
    count_rows = await session.execute(
        select(Comparison.batch_id, Comparison.status, func.count())
        .where(Comparison.batch_id.in_(ids))
        .group_by(Comparison.batch_id, Comparison.status)
    )
    for c_batch, status, n_rows in count_rows.all():
        counts[(c_batch, status)] = int(n_rows)
    # The unknown-cost rule (spend_of) applied per group of comparisons that share the facts
    # it reads (a price or none, billed or not), so the SQL only sums and counts.
    billed = or_(Comparison.status == "succeeded", Comparison.input_tokens.is_not(None))
    priced = Comparison.cost_usd.is_not(None)
    costs: dict[str, tuple[float, int]] = {}
    cost_rows = await session.execute(
        select(Comparison.batch_id, billed, priced,
               func.coalesce(func.sum(Comparison.cost_usd), 0.0), func.count())
        .where(Comparison.batch_id.in_(ids))
        .group_by(Comparison.batch_id, billed, priced)
    )
    for k_batch, is_billed, has_price, known_cost, n_rows in cost_rows.all():
        spend = spend_of(float(known_cost or 0.0) if has_price else None, billed=bool(is_billed))
        total, unknown = costs.get(k_batch, (0.0, 0))
        costs[k_batch] = ((total, unknown + int(n_rows)) if spend is None
                          else (total + spend, unknown))
    latest = (
        select(RoundFit.batch_id, func.max(RoundFit.round).label("round"),
               func.count().label("n"))
        .where(RoundFit.batch_id.in_(ids))
        .group_by(RoundFit.batch_id)
        .subquery()
    )
    fits: dict[str, tuple[int, float | None, float | None, str | None]] = {}
    fit_rows = await session.execute(
        select(RoundFit.batch_id, latest.c.n, RoundFit.ssr, RoundFit.details,
               RoundFit.stop_reason)
        .join(latest, (RoundFit.batch_id == latest.c.batch_id)
              & (RoundFit.round == latest.c.round))
    )
    for f_batch, n_fits_done, f_ssr, details, f_stop in fit_rows.all():
        reliability = RoundMetrics.from_json(details).reliability
        fits[f_batch] = (int(n_fits_done), f_ssr, reliability, f_stop)
    out = []
    for b in batches:
        n_students = essays.get((b.id, False), 0)
        n_anchors = essays.get((b.id, True), 0)
        cost, unknown = costs.get(b.id, (0.0, 0))
        n_fits, ssr, reliability, stop_reason = fits.get(b.id, (0, None, None, None))
        out.append(BatchProgress(
            batch=b, n_students=n_students, n_anchors=n_anchors,
            budget=_budget(dict(b.settings)),
            succeeded=counts.get((b.id, "succeeded"), 0), failed=counts.get((b.id, "failed"), 0),
            pending=counts.get((b.id, "pending"), 0), cost_usd=cost, n_cost_unknown=unknown,
            rounds_fitted=n_fits, reliability=reliability, ssr=ssr, stop_reason=stop_reason,
        ))
    return out


async def batch_progress(session: AsyncSession, batch_id: str) -> BatchProgress:
    """The progress of one batch; :class:`~cjgrade.store.records.NotFound` when unknown."""
    batch = await require_batch(session, batch_id)
    return (await _progress_of(session, [batch]))[0]


async def list_batch_progress(
    session: AsyncSession,
    *,
    status: BatchStatus | Iterable[BatchStatus] | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[BatchProgress], int]:
    """A page of batches, newest first, with their progress; and the total matching."""
    from cjgrade.store.batches import _record  # the one row -> record mapping

    where = []
    if status is not None:
        where.append(Batch.status.in_([status] if isinstance(status, str) else list(status)))
    total = int(await session.scalar(select(func.count()).select_from(Batch).where(*where)) or 0)
    stmt = (
        select(Batch).where(*where).order_by(Batch.created_at.desc(), Batch.id)
        .offset((page - 1) * page_size).limit(page_size)
        .execution_options(populate_existing=True)
    )
    batches = [_record(r) for r in await session.scalars(stmt)]
    return await _progress_of(session, batches), total
