"""Per-round Bradley-Terry fits and final grade projections.

Both are keyed so that redoing a step after a crash replaces the row instead of adding one:
``round_fits (batch, round)`` and ``grade_projections (batch, essay)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.errors import InputError
from cjgrade.store._sql import upsert
from cjgrade.store.models import GradeProjection, RoundFit, utcnow
from cjgrade.store.records import (
    GradeProjectionRecord,
    RoundFitRecord,
    RoundMetrics,
    record_from_row,
)

__all__ = [
    "get_latest_fit",
    "list_grade_projections",
    "list_round_fits",
    "save_grade_projections",
    "save_round_fit",
]


def _finite_map(values: Mapping[str, float], what: str) -> dict[str, float]:
    out = {str(k): float(v) for k, v in values.items()}
    bad = [k for k, v in out.items() if not math.isfinite(v)]
    if bad:
        raise InputError(f"{what} has non-finite values for {bad[:5]}")
    return out


def _json(value: Mapping[str, Any] | None, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        return dict(json.loads(json.dumps(dict(value), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be plain JSON (no NaN/inf): {exc}") from None


async def save_round_fit(
    session: AsyncSession,
    batch_id: str,
    round_: int,
    *,
    theta: Mapping[str, float],
    se: Mapping[str, float],
    n_comparisons: int,
    ssr: float | None = None,
    stop: bool = False,
    stop_reason: str | None = None,
    metrics: RoundMetrics | None = None,
) -> RoundFitRecord:
    """Store (or replace) the fit after ``round_``; theta/se keyed by essay id, finite only;
    ``metrics`` as JSON in the ``details`` column."""
    if ssr is not None and not math.isfinite(ssr):
        raise InputError("ssr must be finite or None")
    values = {
        "batch_id": batch_id,
        "round": round_,
        "theta": _finite_map(theta, "theta"),
        "se": _finite_map(se, "se"),
        "ssr": ssr,
        "n_comparisons": n_comparisons,
        "stop": stop,
        "stop_reason": stop_reason,
        "details": _json((metrics or RoundMetrics()).to_json(), "fit metrics"),
        "created_at": utcnow(),
    }
    update_cols = [k for k in values if k not in ("batch_id", "round")]
    row = await upsert(
        session,
        RoundFit,
        values,
        conflict=["batch_id", "round"],
        update=update_cols,
        returning=[RoundFit],
    )
    return _fit_record(row[0])


def _fit_record(row: RoundFit) -> RoundFitRecord:
    return record_from_row(RoundFitRecord, row, metrics=RoundMetrics.from_json(row.details))


async def list_round_fits(session: AsyncSession, batch_id: str) -> list[RoundFitRecord]:
    """All fits of a batch, by round."""
    stmt = (
        select(RoundFit)
        .where(RoundFit.batch_id == batch_id)
        .order_by(RoundFit.round)
        .execution_options(populate_existing=True)
    )
    return [_fit_record(r) for r in await session.scalars(stmt)]


async def get_latest_fit(session: AsyncSession, batch_id: str) -> RoundFitRecord | None:
    """The fit of the highest round (the warm start after a restart), or None."""
    stmt = (
        select(RoundFit)
        .where(RoundFit.batch_id == batch_id)
        .order_by(RoundFit.round.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    row = await session.scalar(stmt)
    return None if row is None else _fit_record(row)


async def save_grade_projections(
    session: AsyncSession, batch_id: str, projections: Sequence[GradeProjectionRecord]
) -> None:
    """Store (or replace) grade projections; probabilities must be finite and sum to ~1."""
    now = utcnow()
    for p in projections:
        probs = _finite_map(p.probabilities, f"probabilities of {p.essay_id}")
        if probs and abs(sum(probs.values()) - 1.0) > 1e-6:
            raise InputError(f"probabilities of {p.essay_id} sum to {sum(probs.values())}, not 1")
        if probs and p.most_likely not in probs:
            raise InputError(
                f"most likely grade {p.most_likely!r} of {p.essay_id} has no probability"
            )
        values = {
            "batch_id": batch_id,
            "essay_id": p.essay_id,
            "grade_scale": p.grade_scale,
            "probabilities": probs,
            "most_likely": p.most_likely,
            "expected": p.expected,
            "confidence": p.confidence,
            "confidence_label": p.confidence_label,
            "details": _json(p.details, "projection details"),
            "created_at": now,
        }
        await upsert(
            session,
            GradeProjection,
            values,
            conflict=["batch_id", "essay_id"],
            update=[k for k in values if k not in ("batch_id", "essay_id")],
        )


async def list_grade_projections(
    session: AsyncSession, batch_id: str
) -> list[GradeProjectionRecord]:
    """A batch's projections ordered by essay id."""
    stmt = (
        select(GradeProjection)
        .where(GradeProjection.batch_id == batch_id)
        .order_by(GradeProjection.essay_id)
        .execution_options(populate_existing=True)
    )
    return [
        GradeProjectionRecord(
            essay_id=r.essay_id,
            grade_scale=r.grade_scale,
            probabilities=r.probabilities,
            most_likely=r.most_likely,
            expected=r.expected,
            confidence=r.confidence,
            confidence_label=r.confidence_label,
            details=r.details,
        )
        for r in await session.scalars(stmt)
    ]
