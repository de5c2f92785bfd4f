"""The batch loop: select pairs -> dispatch -> persist each outcome -> refit -> stop or go on.

State lives in the store, so :meth:`BatchEngine.run` both starts and resumes a batch: it reads
the round the batch is in (the first without a fit), re-dispatches every comparison still
pending (those stored are reused, never asked again), and carries on. Every decision is
recorded with the round's fit.

Pipelined rounds: with a dispatcher that declares its capacity
(:class:`~cjgrade.engine.dispatch.PipelinedDispatcher`, the remote workers), the early part of
round r+1 (at most one capacity's worth, from the estimate round r was planned from) is
dispatched once round r's outstanding comparisons are down to two capacities (its last two
waves), so it is queued before any slot runs out of round r's work and the judge's slots are
not idle while round r ends and is refitted; the rest of round r+1 follows the refit. A stop
after round r lets the early part finish and stores it (it is paid already). Comparisons
planned or in flight count against the budget. Embedded mode does not pipeline.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from cjgrade.bus.events import (
    AssessmentRequestedV1,
    BatchFailedV1,
    decode_envelope,
    make_envelope,
)
from cjgrade.bus.transport import Transport
from cjgrade.engine.dispatch import (
    ComparisonOutcome,
    ComparisonTask,
    Dispatcher,
    PipelinedDispatcher,
)
from cjgrade.engine.finalise import finalise_batch
from cjgrade.engine.fitting import ROUND_EM_ITERATIONS, RoundEstimate, WarmStart, fit_round
from cjgrade.engine.inflight import InFlight
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
from cjgrade.errors import StorageError
from cjgrade.judges.base import JudgeRequest
from cjgrade.judges.cost import add_cost, sum_spend
from cjgrade.stats.pairing import PairingState, select_pairs
from cjgrade.store import ComparisonRecord, RoundMetrics, Store

__all__ = ["BatchEngine", "comparison_request"]

TERMINAL = ("completed", "failed", "cancelled")

EARLY_PART_WAVES = 2
"""A pipelined round's early part is dispatched when the round before has this many waves of
the dispatcher's capacity outstanding. One wave was measured too late: the early part's
planning and publishing left slots idle at every boundary (75% of the latency bound against
82-89% with two, docs/benchmarks.md)."""


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
    """Every comparison requested so far (outcomes as of the last reload)."""
    estimate: RoundEstimate | None
    previous_theta: Mapping[str, float] | None
    last_renew: float = field(default_factory=time.monotonic)
    """When the batch's lease was last renewed."""


@dataclass
class _Tally:
    """Outcomes stored so far and their cost, for progress reports."""

    done: int
    failed: int
    cost: float | None

    @classmethod
    def of(cls, comparisons: Sequence[ComparisonRecord]) -> _Tally:
        return cls(done=sum(1 for c in comparisons if c.status != "pending"),
                   failed=sum(1 for c in comparisons if c.status == "failed"),
                   cost=_cost_so_far(comparisons))

    def add(self, outcome: ComparisonOutcome) -> None:
        self.done += 1
        self.failed += 0 if outcome.succeeded else 1
        self.cost = add_cost(self.cost, outcome.spend_usd)


def _rows(state: _RunState, round_index: int) -> list[ComparisonRecord]:
    """The comparisons of round ``round_index`` requested so far."""
    return [c for c in state.comparisons if c.round == round_index]


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
        budget = stored.spec.options.resolved_budget(len(stored.spec.essays))
        async with InFlight(self.dispatcher) as inflight:
            await self._dispatch_pending(state, inflight)
            try:
                failure = await self._rounds(state, inflight, budget)
            except StorageError:
                if await self.ledger.status(stored.batch_uuid) == "cancelled":
                    # No round is requested any more, but what was requested is out (and
                    # paid): finish and store it, as a round in flight is when cancelled.
                    await self._drain(state, inflight, budget)
                raise
            await self._drain(state, inflight, budget)
        if failure is not None:
            return await self._fail(stored, "low_success_rate", failure)
        stored = await self.ledger.load_batch(stored.batch_uuid)
        return await self._finish(stored)

    async def _rounds(self, state: _RunState, inflight: InFlight, budget: int) -> str | None:
        """Judge rounds until a stop decision (also one stored before a resume); returns the
        reason to fail the batch on a low success rate, else None."""
        fits = await self.ledger.fits(state.stored.batch_uuid)
        round_index = fits[-1].round + 1 if fits else 0  # the first round without a fit
        stopped = bool(fits) and fits[-1].stop
        while not stopped:
            await self._plan_rest(state, inflight, round_index, budget)
            if not _rows(state, round_index):
                decision = RoundStop(True, "no_more_pairs")
                await self._record_fit(state, round_index - 1, decision, final=True)
                return None
            await self._judge_round(state, inflight, round_index, budget)
            await self._reload(state, round_index)
            judged = [c for c in state.comparisons if c.round <= round_index]
            failure = success_rate_failure(judged, state.stored.spec.options)
            if failure is not None:
                return failure
            decision = await self._refit(state, round_index, budget)
            stopped = decision.stop
            round_index += 1
        return None

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

    async def _reload(self, state: _RunState, round_index: int) -> None:
        """Re-read the comparisons of the round just judged and of the next one (its early
        part may have outcomes already) from the store."""
        rounds = (round_index, round_index + 1)
        fresh = [c for r in rounds
                 for c in await self.ledger.comparisons(state.stored.batch_uuid, r)]
        state.comparisons = [c for c in state.comparisons if c.round not in rounds] + fresh

    # --- planning ----------------------------------------------------------------------

    def _capacity(self) -> int | None:
        """Judge calls the dispatcher has in flight at most; None when it does not say (then
        rounds are not pipelined: a round is judged, refitted, then the next one planned)."""
        if isinstance(self.dispatcher, PipelinedDispatcher):
            return self.dispatcher.capacity()
        return None

    def _round_size(self, state: _RunState) -> int:
        """Comparisons per round: the option, else half the essays in whole waves of the
        dispatcher's capacity (of the ``concurrency`` option while it is unknown)."""
        return state.stored.spec.options.resolved_round_size(len(state.stored.spec.essays),
                                                             wave=self._capacity())

    async def _plan_rest(
        self, state: _RunState, inflight: InFlight, round_index: int, budget: int
    ) -> None:
        """Plan and dispatch what round ``round_index`` lacks from the latest estimate: the
        whole round, or the rest after its early part (also a part a crash left unplanned).
        A round is never extended once a later round has been requested."""
        if any(c.round > round_index for c in state.comparisons):
            return
        n_pairs = min(self._round_size(state) - len(_rows(state, round_index)),
                      budget - len(state.comparisons))
        rows = await self._plan(state, round_index, n_pairs, early=False)
        inflight.start([self._task(state, c) for c in rows])

    async def _plan_early(
        self, state: _RunState, inflight: InFlight, round_index: int, budget: int,
        capacity: int,
    ) -> None:
        """Plan and dispatch the early part of round ``round_index`` while the round before
        ends: at most one capacity's worth (the slots the ending round's last wave frees),
        from the estimate that round was planned from, pairs in flight counted as asked."""
        n_pairs = min(capacity, self._round_size(state), budget - len(state.comparisons))
        rows = await self._plan(state, round_index, n_pairs, early=True)
        inflight.start([self._task(state, c) for c in rows])

    async def _plan(
        self, state: _RunState, round_index: int, n_pairs: int, *, early: bool
    ) -> list[ComparisonRecord]:
        """Select ``n_pairs`` pairs for round ``round_index`` and request them, claimed, in the
        slots after the round's stored ones; returns them (fewer when the strategy runs out
        of pairs, none for ``n_pairs <= 0``). Every comparison requested so far counts as
        history, those in flight included, so no pair is drawn twice by accident. The
        generator is seeded with ``(seed, round)`` for a round's main part (as before rounds
        were pipelined, so unpipelined runs draw the same pairs) and ``(seed, round, 1)`` for
        its early part."""
        if n_pairs <= 0:
            return []
        spec = state.stored.spec
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
        seed = [spec.options.seed, round_index, 1] if early else [spec.options.seed, round_index]
        # CPU-bound (an n x n inverse at large batches): off the event loop, so the bus
        # consumers' heartbeats and other batches keep running meanwhile.
        pairs = await asyncio.to_thread(select_pairs, spec.options.strategy, pairing,
                                        np.random.default_rng(seed), n_pairs)
        if len(pairs) == 0:
            return []
        planned = []
        for a, b in pairs:
            request = comparison_request(spec, ids[a], ids[b])
            planned.append((ids[a], ids[b], self.dispatcher.request_sha256(request)))
        first_slot = max((c.slot + 1 for c in _rows(state, round_index)), default=0)
        rows = await self.ledger.add_round(state.stored.batch_uuid, round_index, planned,
                                           claim=True, first_slot=first_slot)
        state.comparisons = state.comparisons + rows
        return rows

    # --- judging -----------------------------------------------------------------------

    def _task(self, state: _RunState, c: ComparisonRecord) -> ComparisonTask:
        spec = state.stored.spec
        request = comparison_request(spec, c.essay_a, c.essay_b)
        return ComparisonTask(
            comparison_id=c.id, batch_uuid=state.stored.batch_uuid, round=c.round, slot=c.slot,
            essay_a=c.essay_a, essay_b=c.essay_b, judge=spec.judge, request=request,
        )

    async def _dispatch_pending(self, state: _RunState, inflight: InFlight) -> None:
        """Resuming: claim every pending comparison again and dispatch them, one stream per
        round (a batch stopped while its rounds were pipelined has pending comparisons in two
        rounds)."""
        n_pending = sum(1 for c in state.comparisons if c.status == "pending")
        if not n_pending:
            return
        claimed = await self.ledger.claim_pending(state.stored.batch_uuid, n_pending)
        for round_index in sorted({c.round for c in claimed}):
            inflight.start([self._task(state, c) for c in claimed if c.round == round_index])

    async def _judge_round(
        self, state: _RunState, inflight: InFlight, round_index: int, budget: int
    ) -> None:
        """Store outcomes until round ``round_index`` has them all (outcomes of the next
        round's early part are stored as they come too). Once the round's outstanding
        comparisons are down to two capacities (its last two waves: one in flight, one
        queued), the early part of the next round is planned and dispatched: it is queued
        behind the round's last wave before any slot runs out of work, and keeps the slots
        busy while the round ends and is refitted. When it is planned does not change its
        pairs: the estimate stays the same until the round's refit."""
        tally = _Tally.of(state.comparisons)
        early_due = not _rows(state, round_index + 1)
        while inflight.outstanding(round_index):
            capacity = self._capacity()
            if (early_due and capacity
                    and inflight.outstanding(round_index) <= EARLY_PART_WAVES * capacity):
                early_due = False
                await self._plan_early(state, inflight, round_index + 1, budget, capacity)
            await self._store_arrived(state, inflight, tally, round_index, budget)

    async def _drain(self, state: _RunState, inflight: InFlight, budget: int) -> None:
        """Store the outcomes still awaited (the batch stops: what is in flight is paid for,
        and the final fit includes it)."""
        tally = _Tally.of(state.comparisons)
        round_index = max((c.round for c in state.comparisons), default=0)
        while inflight.outstanding():
            await self._store_arrived(state, inflight, tally, round_index, budget)

    async def _store_arrived(
        self, state: _RunState, inflight: InFlight, tally: _Tally, round_index: int,
        budget: int,
    ) -> None:
        """Store the next group of outcomes that have arrived, report progress and keep the
        lease."""
        outcomes = await inflight.next_group()
        if not outcomes:
            return
        stored = await self.ledger.record_outcomes(outcomes)
        for outcome, ok in zip(outcomes, stored, strict=True):
            if ok:  # else a duplicate delivery: already stored
                tally.add(outcome)
        est = state.estimate
        self.progress.on_progress(
            Progress(state.stored.batch_uuid, round_index, len(state.comparisons), tally.done,
                     tally.failed, budget, tally.cost, est.ssr if est else None,
                     est.reliability if est else None)
        )
        if time.monotonic() - state.last_renew > 30:
            await self.ledger.renew(state.stored.batch_uuid, self.owner)
            state.last_renew = time.monotonic()

    async def _refit(self, state: _RunState, round_index: int, budget: int) -> RoundStop:
        spec = state.stored.spec
        judged = [c for c in state.comparisons if c.round <= round_index]
        succeeded = sum(1 for c in judged if c.status == "succeeded")
        estimate = await asyncio.to_thread(
            fit_round,
            [e.id for e in spec.essays], judged, alpha=spec.options.alpha,
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
