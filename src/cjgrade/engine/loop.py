"""The batch loop: select pairs -> dispatch -> persist each outcome -> refit -> stop or go on.

State lives in the store, so :meth:`BatchEngine.run` both starts and resumes a batch: it reads
the round the batch is in, re-dispatches that round's comparisons still pending (those stored
are reused, never asked again), and carries on. Every decision is recorded with the round's
fit.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cjgrade.bus.events import (
    AssessmentRequestedV1,
    BatchFailedV1,
    decode_envelope,
    make_envelope,
)
from cjgrade.bus.transport import Transport
from cjgrade.engine.dispatch import ComparisonOutcome, ComparisonTask, Dispatcher
from cjgrade.engine.finalise import finalise_batch
from cjgrade.engine.fitting import ROUND_EM_ITERATIONS, RoundEstimate, WarmStart, fit_round
from cjgrade.engine.ledger import BatchLedger, StoredBatch, lease_owner
from cjgrade.engine.progress import NullProgress, Progress, ProgressListener
from cjgrade.engine.results import BatchResult
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.engine.spec_codec import request_event
from cjgrade.engine.stop_rules import (
    RoundStop,
    decide_stop,
    reliability_is_read,
    success_rate_failure,
)
from cjgrade.judges.base import JudgeRequest
from cjgrade.judges.cost import add_cost, sum_spend
from cjgrade.stats.pairing import PairingState, select_pairs
from cjgrade.store import ComparisonRecord, RoundMetrics, Store

__all__ = ["BatchEngine", "comparison_request"]

TERMINAL = ("completed", "failed", "cancelled")


def comparison_request(spec: BatchSpec, essay_a: str, essay_b: str) -> JudgeRequest:
    """The judge request the engine sends for the ordered pair of essay ids ``essay_a`` (shown
    first) and ``essay_b`` of ``spec``: its texts, prompts and judge settings."""
    texts = spec.texts
    return JudgeRequest(
        system_prompt=spec.system_prompt, student_prompt=spec.student_prompt,
        instructions=spec.instructions, rubric=spec.rubric,
        essay_a=texts[essay_a], essay_b=texts[essay_b],
        settings=spec.options.judge_settings(),
    )


@dataclass
class _RunState:
    stored: StoredBatch
    comparisons: list[ComparisonRecord]
    estimate: RoundEstimate | None
    previous_theta: Mapping[str, float] | None
    claimed: frozenset[int] = frozenset()
    """Comparisons claimed (marked dispatched) when their round was requested."""


class BatchEngine:
    """Runs batches on a store with a dispatcher; publishes events through a transport.

    Parameters
    ----------
    store : the database.
    dispatcher : where comparisons are judged (in process or on remote workers).
    transport : the event bus (events are written to the outbox first, then published).
    progress : receives a :class:`Progress` after every stored outcome and every refit.
    """

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        *,
        transport: Transport | None = None,
        progress: ProgressListener | None = None,
    ) -> None:
        self.ledger = BatchLedger(store)
        self.dispatcher = dispatcher
        self.transport = transport
        self.progress = progress or NullProgress()
        self.owner = lease_owner()

    # --- creation ----------------------------------------------------------------------

    async def create(self, spec: BatchSpec, batch_uuid: str | None = None) -> str:
        """Validate (before anything is written) and store a new batch; return its uuid
        (``batch_uuid`` when the caller made it, e.g. the ENG5 runner's run id; else a new
        uuid4)."""
        validate_spec(spec)
        batch_uuid = batch_uuid or str(uuid.uuid4())
        envelope = make_envelope(request_event(spec, batch_uuid))
        await self.ledger.create_batch(
            spec, batch_uuid,
            [(AssessmentRequestedV1.TOPIC, batch_uuid, envelope.model_dump(mode="json"))],
        )
        await self._publish_pending(batch_uuid)
        return batch_uuid

    # --- running -----------------------------------------------------------------------

    async def run(self, batch_uuid: str) -> BatchResult:
        """Run (or resume) a batch to the end and return its results."""
        stored = await self.ledger.load_batch(batch_uuid)
        if stored.status in TERMINAL:
            await self._publish_pending(batch_uuid)
            return await finalise_batch(self.ledger, stored, publish=False)
        await self.ledger.acquire(batch_uuid, self.owner)
        try:
            return await self._run(stored)
        finally:
            await self.ledger.release(batch_uuid, self.owner)

    async def resume_unfinished(self) -> list[BatchResult]:
        """Resume every unfinished batch nobody holds (what ``serve`` does at start-up)."""
        return [await self.run(batch_uuid) for batch_uuid in await self.ledger.resumable()]

    async def _run(self, stored: StoredBatch) -> BatchResult:
        state = await self._restore(stored)
        spec = stored.spec
        budget = spec.options.resolved_budget(len(spec.essays))
        round_index = stored.current_round
        fits = await self.ledger.fits(stored.batch_uuid)
        stopped = bool(fits) and fits[-1].stop
        while not stopped:
            rows = [c for c in state.comparisons if c.round == round_index]
            if not rows:
                rows = await self._plan_round(state, round_index, budget)
                if not rows:
                    decision = RoundStop(True, "no_more_pairs")
                    await self._record_fit(state, round_index - 1, decision, final=True)
                    break
            await self._judge_round(state, rows, budget)
            fresh = await self.ledger.comparisons(stored.batch_uuid, round_index)
            state.comparisons = [c for c in state.comparisons if c.round != round_index] + fresh
            failure = success_rate_failure(state.comparisons, spec.options)
            if failure is not None:
                return await self._fail(stored, "low_success_rate", failure)
            decision = await self._refit(state, round_index, budget)
            stopped = decision.stop
            round_index += 1
        stored = await self.ledger.load_batch(stored.batch_uuid)
        return await self._finish(stored)

    async def _restore(self, stored: StoredBatch) -> _RunState:
        comparisons = await self.ledger.comparisons(stored.batch_uuid)
        fits = await self.ledger.fits(stored.batch_uuid)
        estimate = None
        previous = None
        if fits:
            # The pairing needs the last round's estimates: refit them, warm from the stored fit.
            ids = [e.id for e in stored.spec.essays]
            estimate = await asyncio.to_thread(
                fit_round,
                ids, [c for c in comparisons if c.round <= fits[-1].round],
                alpha=stored.spec.options.alpha,
                position_effect=stored.spec.options.position_effect,
                warm=WarmStart.from_fit(ids, fits[-1]),
                max_iter=ROUND_EM_ITERATIONS, seed=stored.spec.options.seed,
            )
            previous = fits[-1].theta
        return _RunState(stored, comparisons, estimate, previous)

    async def _plan_round(
        self, state: _RunState, round_index: int, budget: int
    ) -> list[ComparisonRecord]:
        spec = state.stored.spec
        remaining = budget - len(state.comparisons)
        if remaining <= 0:
            return []
        ids = [e.id for e in spec.essays]
        index = {e: i for i, e in enumerate(ids)}
        est = state.estimate
        pairing = PairingState.from_history(
            len(ids),
            [index[c.essay_a] for c in state.comparisons],
            [index[c.essay_b] for c in state.comparisons],
            theta=est.theta if est is not None else None,
            se=est.se if est is not None else None,
            is_anchor=[e.is_anchor for e in spec.essays],
            soft_information=est.soft_information if est is not None else None,
        )
        rng = np.random.default_rng([spec.options.seed, round_index])
        n_pairs = min(spec.options.resolved_round_size(len(ids)), remaining)
        # CPU-bound (an n x n inverse at large batches): off the event loop, so the bus
        # consumers' heartbeats and other batches keep running meanwhile.
        pairs = await asyncio.to_thread(select_pairs, spec.options.strategy, pairing, rng,
                                        n_pairs)
        if len(pairs) == 0:
            return []
        planned = []
        for a, b in pairs:
            request = comparison_request(spec, ids[a], ids[b])
            planned.append((ids[a], ids[b], self.dispatcher.request_sha256(request)))
        rows = await self.ledger.add_round(state.stored.batch_uuid, round_index, planned,
                                           claim=True)
        state.claimed = frozenset(c.id for c in rows)
        state.comparisons = [c for c in state.comparisons if c.round != round_index] + rows
        return rows

    def _task(self, state: _RunState, c: ComparisonRecord) -> ComparisonTask:
        spec = state.stored.spec
        request = comparison_request(spec, c.essay_a, c.essay_b)
        return ComparisonTask(
            comparison_id=c.id, batch_uuid=state.stored.batch_uuid, round=c.round, slot=c.slot,
            essay_a=c.essay_a, essay_b=c.essay_b, judge=spec.judge, request=request,
        )

    async def _judge_round(
        self, state: _RunState, rows: Sequence[ComparisonRecord], budget: int
    ) -> None:
        pending = [c for c in rows if c.status == "pending"]
        if not pending:
            return
        batch_uuid = state.stored.batch_uuid
        if all(c.id in state.claimed for c in pending):
            claimed = pending  # claimed when the round was requested
        else:
            claimed = await self.ledger.claim_pending(batch_uuid, len(pending))
        state.claimed = frozenset()
        tasks = [self._task(state, c) for c in claimed]
        done = sum(1 for c in state.comparisons if c.status != "pending")
        failed = sum(1 for c in state.comparisons if c.status == "failed")
        cost = _cost_so_far(state.comparisons)
        last_renew = time.monotonic()
        async for outcomes in _arrivals(self.dispatcher.dispatch(tasks)):
            stored = await self.ledger.record_outcomes(outcomes)
            for outcome, ok in zip(outcomes, stored, strict=True):
                if not ok:
                    continue  # a duplicate delivery: already stored
                done += 1
                failed += 0 if outcome.succeeded else 1
                cost = add_cost(cost, outcome.spend_usd)
            self.progress.on_progress(
                Progress(batch_uuid, pending[0].round, len(state.comparisons), done,
                         failed, budget, cost,
                         state.estimate.ssr if state.estimate else None,
                         state.estimate.reliability if state.estimate else None)
            )
            if time.monotonic() - last_renew > 30:
                await self.ledger.renew(batch_uuid, self.owner)
                last_renew = time.monotonic()

    async def _refit(self, state: _RunState, round_index: int, budget: int) -> RoundStop:
        spec = state.stored.spec
        succeeded = sum(1 for c in state.comparisons if c.status == "succeeded")
        estimate = await asyncio.to_thread(
            fit_round,
            [e.id for e in spec.essays], state.comparisons, alpha=spec.options.alpha,
            position_effect=spec.options.position_effect, previous=state.estimate,
            max_iter=ROUND_EM_ITERATIONS, seed=spec.options.seed,
            sample=reliability_is_read(spec.options, len(spec.essays), succeeded),
        )
        decision = decide_stop(
            estimate, state.previous_theta, spec, n_requested=len(state.comparisons),
            budget=budget,
        )
        state.estimate = estimate
        await self._record_fit(state, round_index, decision)
        state.previous_theta = estimate.as_dicts()[0]
        done = sum(1 for c in state.comparisons if c.status != "pending")
        failed = sum(1 for c in state.comparisons if c.status == "failed")
        self.progress.on_progress(
            Progress(state.stored.batch_uuid, round_index, len(state.comparisons), done, failed,
                     budget, _cost_so_far(state.comparisons), estimate.ssr,
                     estimate.reliability)
        )
        return decision

    async def _record_fit(
        self, state: _RunState, round_index: int, decision: RoundStop, *, final: bool = False
    ) -> None:
        est = state.estimate
        if est is None or round_index < 0:
            return
        theta, se = est.as_dicts()
        metrics = RoundMetrics(
            reliability=est.reliability,
            reliability_method=est.reliability_method,
            laplace_reliability=est.laplace_reliability,
            prior_variance=est.prior_variance,
            soft_variance=est.soft_variance,
            position_effect=est.fit.position_effect,
            position_se=est.fit.position_se,
            max_theta_change=decision.max_theta_change,
            decision=decision.explanation,
            n_requested=len(state.comparisons),
            judges=tuple(est.judges),
        )
        await self.ledger.record_fit(
            state.stored.batch_uuid, round_index, theta=theta, se=se,
            ssr=est.ssr if math.isfinite(est.ssr) else None,  # undefined on tiny batches
            n_comparisons=est.n_comparisons, stop=decision.stop, stop_reason=decision.rule,
            metrics=metrics,
        )

    # --- endings -----------------------------------------------------------------------

    async def _finish(self, stored: StoredBatch) -> BatchResult:
        result = await finalise_batch(self.ledger, stored, publish=True)
        await self._publish_pending(stored.batch_uuid)
        return result

    async def _fail(self, stored: StoredBatch, reason: str, details: str) -> BatchResult:
        event = BatchFailedV1(batch_uuid=stored.batch_uuid, reason=reason, details=details)
        await self.ledger.finish(
            stored.batch_uuid, "failed", failure_reason=f"{reason}: {details}",
            events=[(BatchFailedV1.TOPIC, stored.batch_uuid,
                     make_envelope(event).model_dump(mode="json"))],
        )
        await self._publish_pending(stored.batch_uuid)
        stored = await self.ledger.load_batch(stored.batch_uuid)
        return await finalise_batch(self.ledger, stored, publish=False)

    async def _publish_pending(self, batch_uuid: str) -> None:
        """Publish every outbox event of the batch not yet published (also after a crash)."""
        if self.transport is None:
            return
        for row in await self.ledger.unpublished_events(key=batch_uuid):
            await self.transport.publish(row.topic, decode_envelope(dict(row.payload)))
            await self.ledger.mark_published(row.id)


def _cost_so_far(comparisons: Sequence[ComparisonRecord]) -> float | None:
    """Spend so far: verdicts and billed failures (None once any price is unknown)."""
    return sum_spend(c.spend_usd for c in comparisons)


_END = object()


async def _arrivals(
    outcomes: AsyncIterator[ComparisonOutcome],
) -> AsyncIterator[list[ComparisonOutcome]]:
    """Group the outcomes that have already arrived while the previous group was being stored
    (a group commit): each verdict is still stored as soon as the database is free, and a
    crash of the dispatcher is raised only after what arrived before it is stored."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for outcome in outcomes:
                queue.put_nowait(outcome)
        except BaseException as exc:  # re-raised below, after the earlier outcomes
            queue.put_nowait(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            queue.put_nowait(_END)

    task = asyncio.ensure_future(pump())
    try:
        finished = False
        while not finished:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            group = [x for x in items if isinstance(x, ComparisonOutcome)]
            if group:
                yield group
            for x in items:
                if isinstance(x, BaseException):
                    raise x
            finished = any(x is _END for x in items)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
