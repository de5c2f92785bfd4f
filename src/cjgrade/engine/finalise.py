"""Finalising a batch: the final fit, per-essay results, reliability, fit statistics, grade
projections, anchor alignment, position bias, costs, text aimed at the judge (the same
detector the prompt renderer flags comparisons with, once per essay), and the completion
events.

Everything is recomputed from the stored comparisons, so finalising twice (a crash between
"results saved" and "status completed") gives the same numbers and writes nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from cjgrade.bus.events import AssessmentResultV1, BatchCompletedV1, EssayResult, make_envelope
from cjgrade.engine.diagnostics import calibration_section, mark_grades, quality_section
from cjgrade.engine.fitting import RoundEstimate, WarmStart, build_pairwise, fit_round
from cjgrade.engine.grading import grade_batch
from cjgrade.engine.ledger import BatchLedger, StoredBatch
from cjgrade.engine.results import (
    BatchResult,
    CostLine,
    EssayOutcome,
    JudgeFitLine,
    PositionBias,
    ReliabilitySection,
    RoundSummary,
)
from cjgrade.engine.statistics import essay_and_judge_fit, separation_of
from cjgrade.errors import ConvergenceError, InputError
from cjgrade.judges.cost import add_cost
from cjgrade.judges.injection import find_injection_matches
from cjgrade.stats.bt import fit_bradley_terry
from cjgrade.stats.reliability import scale_separation_reliability
from cjgrade.store import ComparisonRecord, GradeProjectionRecord

__all__ = ["finalise_batch"]


def _costs(comparisons: Sequence[ComparisonRecord], judge: str) -> tuple[CostLine, ...]:
    """Tokens and cost per provider/model: verdicts, plus what failed comparisons were billed
    (invalid replies; attributed to the batch's judge). A failed comparison with nothing billed
    costs 0; a billed one with an unknown price makes the cost unknown."""
    provider, _, model = judge.partition("/")
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    for c in comparisons:
        if c.status == "pending":
            continue
        succeeded = c.status == "succeeded"
        tokens = {"input_tokens": c.input_tokens or 0, "output_tokens": c.output_tokens or 0,
                  "cache_read_tokens": c.cache_read_tokens or 0,
                  "cache_write_tokens": c.cache_write_tokens or 0}
        cost = c.spend_usd
        key = (c.provider or provider, c.model or model) if succeeded else (provider, model)
        acc = lines.setdefault(key, {"comparisons": 0, "input_tokens": 0, "output_tokens": 0,
                                     "cache_read_tokens": 0, "cache_write_tokens": 0,
                                     "cost_usd": 0.0, "cache_hits": 0, "usage_unusable": 0})
        acc["comparisons"] += int(succeeded)
        acc["cache_hits"] += int(succeeded and "cached" in c.flags)
        acc["usage_unusable"] += int(any(f.startswith("usage_unusable") for f in c.flags))
        for k, v in tokens.items():
            acc[k] += v
        acc["cost_usd"] = add_cost(acc["cost_usd"], cost)
    return tuple(CostLine(provider=p, model=m, **v) for (p, m), v in sorted(lines.items()))


def _essay_counts(
    ids: Sequence[str], comparisons: Sequence[ComparisonRecord]
) -> dict[str, dict[str, float]]:
    counts = {e: {"n": 0, "wins": 0.0, "failed": 0, "a": 0, "b": 0} for e in ids}
    for c in comparisons:
        counts[c.essay_a]["a"] += 1
        counts[c.essay_b]["b"] += 1
        if c.status == "failed":
            counts[c.essay_a]["failed"] += 1
            counts[c.essay_b]["failed"] += 1
        if c.status == "succeeded" and c.p_a is not None:
            counts[c.essay_a]["n"] += 1
            counts[c.essay_b]["n"] += 1
            counts[c.essay_a]["wins"] += float(c.p_a)
            counts[c.essay_b]["wins"] += 1.0 - float(c.p_a)
    return counts


def _fit_statistics(
    est: RoundEstimate, comparisons: Sequence[ComparisonRecord], ids: Sequence[str]
) -> tuple[list[tuple[float | None, float | None]], tuple[JudgeFitLine, ...]]:
    data, judges = build_pairwise(ids, comparisons)
    if data.n_comparisons == 0:
        return [(None, None)] * len(ids), ()
    essay_rows, judge_rows = essay_and_judge_fit(data, est.fit, len(judges))
    lines = tuple(
        JudgeFitLine(judge=name, n_comparisons=n, infit=infit, outfit=outfit)
        for name, (n, infit, outfit) in zip(judges, judge_rows, strict=True)
    )
    return essay_rows, lines


SSR_EPS = 0.3
"""sirt's score adjustment for the conventional SSR (``btm(..., eps = 0.3)``)."""


def _reliability(
    est: RoundEstimate, comparisons: Sequence[ComparisonRecord], ids: Sequence[str],
    position_effect: bool,
) -> ReliabilitySection:
    """The conventional SSR and separation (sirt's ``mle.rel`` and ``sepG``: maximum
    likelihood with the eps = 0.3 score adjustment), beside the posterior reliability of the
    reported (prior-based) estimates."""
    data, _ = build_pairwise(ids, comparisons)
    ssr = separation = None
    note = "maximum likelihood with sirt's eps=0.3 score adjustment (sirt mle.rel, sepG)"
    try:
        ml = fit_bradley_terry(data, position_effect=position_effect, eps=SSR_EPS,
                               initial_params=est.theta)
        ssr = _finite(scale_separation_reliability(ml.theta, ml.se))
        separation = separation_of(ml.theta, ml.se)
    except (ConvergenceError, InputError) as exc:
        note = f"not computed: {exc}"
    return ReliabilitySection(
        ssr=ssr,
        separation=separation,
        ssr_method=note,
        posterior_reliability=_finite(est.reliability),
        posterior_reliability_method=est.reliability_method,
        laplace_reliability=(None if est.laplace_reliability is None
                             else _finite(est.laplace_reliability)),
        prior_variance=est.prior_variance,
        soft_noise_variance=est.soft_variance,
        n_soft_comparisons=est.fit.n_soft,
        n_comparisons_fitted=est.n_comparisons,
    )


def _finite(value: Any) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None


async def finalise_batch(
    ledger: BatchLedger,
    stored: StoredBatch,
    *,
    publish: bool,
) -> BatchResult:
    """Compute the batch's results from the store; when ``publish``, save them, mark the batch
    completed and emit the completion events (once)."""
    spec = stored.spec
    ids = [e.id for e in spec.essays]
    comparisons = await ledger.comparisons(stored.batch_uuid)
    fits = await ledger.fits(stored.batch_uuid)
    warm = WarmStart.from_fit(ids, fits[-1]) if fits else None
    est = await asyncio.to_thread(
        fit_round, ids, comparisons, alpha=spec.options.alpha,
        position_effect=spec.options.position_effect, warm=warm, seed=spec.options.seed,
    )
    counts = _essay_counts(ids, comparisons)
    fit_rows, judge_lines = _fit_statistics(est, comparisons, ids)
    order = np.argsort(-est.theta, kind="stable")
    rank = {ids[int(i)]: r + 1 for r, i in enumerate(order)}
    failed = stored.status == "failed"
    grades, alignment, projections = grade_batch(spec, est, comparisons, failed=failed)
    reliability = _reliability(est, comparisons, ids, spec.options.position_effect)
    quality, report = quality_section(spec, reliability, grades, projections)
    grades = replace(grades, reliable=quality.grades_reliable)
    projections = mark_grades(projections, report)
    essays = tuple(
        EssayOutcome(
            essay_id=e.id, is_anchor=e.is_anchor, theta=float(est.theta[i]),
            se=float(est.se[i]), rank=rank[e.id], n_comparisons=int(counts[e.id]["n"]),
            wins=float(counts[e.id]["wins"]), n_failed=int(counts[e.id]["failed"]),
            a_slot=int(counts[e.id]["a"]), b_slot=int(counts[e.id]["b"]),
            anchor_grade=e.grade if e.is_anchor else None, file_name=e.label,
            infit=fit_rows[i][0], outfit=fit_rows[i][1], grade=projections.get(e.id),
            injection_flags=find_injection_matches(e.text),
        )
        for i, e in enumerate(spec.essays)
    )
    done = [c for c in comparisons if c.status == "succeeded" and c.p_a is not None]
    a_rate = float(np.mean([c.p_a for c in done])) if done else None
    last_stop = fits[-1].stop_reason if fits else None
    status = "failed" if failed else "completed"
    finished = stored.finished_at or datetime.now(UTC)
    result = BatchResult(
        batch_uuid=stored.batch_uuid, label=spec.label, status=status,
        stop_reason="failed" if failed else (last_stop or "budget"),
        grade_scale=spec.grade_scale, assignment_id=spec.assignment_id or spec.assignment_ref,
        judge=spec.judge, options=spec.options.to_dict(), essays=essays,
        comparisons=tuple(comparisons),
        rounds=tuple(
            RoundSummary(round=f.round, n_comparisons=f.n_comparisons, ssr=f.ssr,
                         reliability=f.metrics.reliability,
                         max_theta_change=f.metrics.max_theta_change, stop=f.stop,
                         stop_reason=f.stop_reason,
                         reliability_method=f.metrics.reliability_method)
            for f in fits
        ),
        judges=judge_lines,
        costs=_costs(comparisons, spec.judge),
        reliability=reliability,
        position_bias=PositionBias(estimate=est.fit.position_effect,
                                   se=est.fit.position_se, a_slot_win_rate=a_rate),
        grades=grades,
        alignment=alignment,
        quality=quality,
        calibration=calibration_section(spec, est, comparisons),
        failure_reason=stored.failure_reason,
        started_at=stored.created_at.isoformat(),
        finished_at=finished.isoformat(),
        duration_s=(finished - stored.created_at).total_seconds(),
    )
    if publish and not failed:
        await _complete(ledger, result)
    return result


def projection_records(result: BatchResult) -> list[GradeProjectionRecord]:
    return [
        GradeProjectionRecord(
            essay_id=e.essay_id, grade_scale=result.grade_scale or "",
            probabilities=e.grade.probabilities, most_likely=e.grade.grade,
            expected=e.grade.expected, confidence=e.grade.confidence,
            confidence_label=e.grade.confidence_label,
            details={"theta": e.theta, "se": e.se, "reliable": e.grade.reliable,
                     "quality_status": result.quality.status if result.quality else None},
        )
        for e in result.students
        if e.grade is not None
    ]


async def _complete(ledger: BatchLedger, result: BatchResult) -> None:
    """Save the results, mark the batch completed and queue the completion events in the
    outbox, atomically; the engine then publishes them."""
    completed = BatchCompletedV1(
        batch_uuid=result.batch_uuid, label=result.label, stop_reason=result.stop_reason,
        n_essays=len(result.essays), n_students=len(result.students),
        n_comparisons=len(result.comparisons), n_succeeded=result.n_succeeded,
        n_failed=result.n_failed, ssr=result.ssr,
        duration_s=result.duration_s,
    )
    rich = AssessmentResultV1(
        batch_uuid=result.batch_uuid, assignment_id=result.assignment_id,
        grade_scale=result.grade_scale, judges=[j.judge for j in result.judges],
        ssr=result.ssr,
        essays=[
            EssayResult(
                essay_id=e.essay_id, is_anchor=e.is_anchor, theta=e.theta, se=e.se, rank=e.rank,
                n_comparisons=e.n_comparisons, anchor_grade=e.anchor_grade,
                grade=e.grade.grade if e.grade else None,
                grade_probabilities=e.grade.probabilities if e.grade else None,
            )
            for e in result.essays
        ],
    )
    events: list[tuple[str, str | None, dict[str, Any]]] = [
        (BatchCompletedV1.TOPIC, result.batch_uuid,
         make_envelope(completed).model_dump(mode="json")),
        (AssessmentResultV1.TOPIC, result.batch_uuid, make_envelope(rich).model_dump(mode="json")),
    ]
    await ledger.complete(
        result.batch_uuid, {e.essay_id: (e.theta, e.se) for e in result.essays},
        projection_records(result), events,
    )
