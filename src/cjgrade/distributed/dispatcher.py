"""The orchestrator's side of the bus: publish comparison requests, route results, re-dispatch.

:class:`ResultRouter` is the orchestrator's one consumer of ``comparison.completed``: the sole
reader of every partition, its offsets committed under ``cjgrade-orchestrator`` (one
orchestrator runs per database, see :mod:`cjgrade.distributed.singleton`). A result for a
comparison being dispatched goes to the :class:`DurableBusDispatcher` stream waiting for it
(a batch has two while its rounds are pipelined: the ending round and the next round's early
part), which yields it to the engine;
the record is acknowledged only after the engine has stored it. Any other result (a batch not
running here yet, a duplicate) is stored directly, idempotently, and acknowledged.

:class:`DurableBusDispatcher` implements the engine's ``Dispatcher`` protocol. Unlike a plain
bus dispatcher it never gives up on a round: when no result has arrived for
``redispatch_after_s`` it checks the store for comparisons answered meanwhile and publishes the
requests of the rest again. That covers a worker killed mid-call, requests lost by a broker
that restarted with empty topics, and results published while the orchestrator was down.
Workers answer a request they have already answered from memory, so a re-dispatch does not pay
for a judge twice, and the store keeps one outcome per comparison whatever arrives twice.

What happens twice is recorded (:mod:`cjgrade.store.redeliveries`): each re-published request
adds one to the comparison's ``redispatches``; a result that arrives after the comparison's
outcome was stored, from a second judge call (another event id than the stored result's), adds
its requests, tokens and cost to the comparison and one to its ``repeat_calls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import structlog

from cjgrade.bus.events import ComparisonCompletedV1, ComparisonRequestedV1, make_envelope
from cjgrade.bus.transport import Delivery, Transport
from cjgrade.distributed.messages import outcome_from_event, request_event
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.engine.dispatch import ComparisonOutcome, ComparisonTask
from cjgrade.engine.ledger import BatchLedger
from cjgrade.errors import BusError, CJGradeError
from cjgrade.judges.base import JudgeRequest, Usage
from cjgrade.store.redeliveries import count_redispatches, note_result_events, record_repeat_call

__all__ = ["ORCHESTRATOR_GROUP", "DurableBusDispatcher", "ResultRouter"]

log = structlog.get_logger("cjgrade.orchestrator")

ORCHESTRATOR_GROUP = "cjgrade-orchestrator"


LOST = None
"""Put in every waiter's queue when the broker lost records: re-dispatch now."""

STALLS_REPORTED = 2
"""Waits of ``redispatch_after_s`` without a result, in one round, after which its stall is
logged as an error: one is a killed worker or a lost broker; a second means nobody reads some
of its requests (no worker, or partitions the workers' group left unassigned)."""


@dataclass
class _Waiter:
    pending: set[int]
    stalls: int = 0
    """Waits of ``redispatch_after_s`` that ended without any result."""
    queue: asyncio.Queue[tuple[ComparisonOutcome, Delivery] | None] = field(
        default_factory=asyncio.Queue)


class ResultRouter:
    """Consume ``comparison.completed`` and hand each result to whoever waits for it."""

    def __init__(self, transport: Transport, ledger: BatchLedger,
                 metrics: DistributedMetrics | None = None,
                 *, group: str = ORCHESTRATOR_GROUP) -> None:
        self.transport = transport
        self.ledger = ledger
        self.metrics = metrics or DistributedMetrics()
        self.group = group
        self._waiters: dict[str, list[_Waiter]] = {}
        self._sub = transport.subscribe(ComparisonCompletedV1.TOPIC, group=group, sole=True)
        self._sub.on_records_lost = self._records_lost
        self._workers: dict[str, tuple[int, float]] = {}
        """worker id -> (its concurrency, when its last result arrived)."""
        self._group: tuple[set[str], float] | None = None
        """The worker ids in the workers' consumer group, and when they were read."""

    def capacity(self, window_s: float = 60.0) -> int | None:
        """Judge calls the workers heard from in the last ``window_s`` can have in flight
        (the sum of their concurrency); None before any result named its worker. A worker
        last heard from before the workers' group was last seen without it no longer counts
        (it left: SIGTERM, or its session timed out)."""
        now = time.monotonic()
        present, checked = self._group if self._group is not None else (None, 0.0)
        live = [c for wid, (c, seen) in self._workers.items()
                if now - seen <= window_s
                and (present is None or wid in present or seen > checked)]
        return sum(live) if live else None

    def workers_in_group(self, worker_ids: set[str] | None) -> None:
        """The workers the broker lists in their consumer group now (see :meth:`capacity`);
        None when some member cannot be named."""
        self._group = (set(worker_ids), time.monotonic()) if worker_ids is not None else None

    def register(self, batch_uuid: str, comparison_ids: set[int]) -> _Waiter:
        """Route the results of ``comparison_ids`` to the returned waiter (a batch has two
        while its rounds are pipelined: the ending round and the next round's early part)."""
        waiter = _Waiter(set(comparison_ids))
        self._waiters.setdefault(batch_uuid, []).append(waiter)
        return waiter

    def unregister(self, batch_uuid: str, waiter: _Waiter) -> None:
        waiters = self._waiters.get(batch_uuid, [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self._waiters.pop(batch_uuid, None)

    def _waiter_for(self, batch_uuid: str, comparison_id: int) -> _Waiter | None:
        return next((w for w in self._waiters.get(batch_uuid, ()) if comparison_id in w.pending),
                    None)

    def ack(self, delivery: Delivery) -> None:
        self._sub.ack(delivery)

    def _records_lost(self) -> None:
        """The broker lost results (it restarted empty), and with them, surely, requests:
        every round being dispatched re-dispatches now rather than after its wait."""
        log.warning("the broker lost records; re-dispatching unanswered comparisons now")
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.queue.put_nowait(LOST)

    async def start(self) -> None:
        await self._sub.start()

    async def run(self) -> None:
        """Route results until cancelled (or the subscription closes)."""
        try:
            while True:
                try:
                    delivery = await self._sub.next_delivery()
                except StopAsyncIteration:
                    return
                await self._route(delivery)
                if delivery.offset % 50 == 0:
                    with contextlib.suppress(Exception):
                        self.metrics.queue_lag.labels(ComparisonCompletedV1.TOPIC).set(
                            await self._sub.lag())
        finally:
            await self._sub.close()

    async def _route(self, delivery: Delivery) -> None:
        envelope = delivery.envelope
        try:
            event = envelope.event() if envelope is not None else None
        except BusError as exc:
            log.error("invalid comparison result skipped", error=str(exc))
            event = None
        if not isinstance(event, ComparisonCompletedV1):
            self.ack(delivery)
            return
        if event.worker_id is not None and event.worker_concurrency:
            self._workers[event.worker_id] = (event.worker_concurrency, time.monotonic())
        outcome = outcome_from_event(event)
        waiter = self._waiter_for(event.batch_uuid, event.comparison_id)
        if waiter is not None:
            waiter.queue.put_nowait((outcome, delivery))  # acked once the engine stored it
            return
        await self.store(outcome, event.batch_uuid, delivery)
        self.ack(delivery)

    async def store(self, outcome: ComparisonOutcome, batch_uuid: str,
                    delivery: Delivery | None = None) -> bool:
        """Store an outcome nobody waits for (idempotent); False if it was not stored (then a
        second judge call it reports is recorded)."""
        try:
            stored = await self.ledger.record_outcome(outcome)
        except CJGradeError as exc:  # unknown comparison, stale request hash
            log.warning("result not stored", batch_uuid=batch_uuid,
                        comparison_id=outcome.comparison_id, error=str(exc))
            return False
        if stored:
            self.metrics.stored.labels("succeeded" if outcome.succeeded else "failed").inc()
            if delivery is not None and delivery.envelope is not None:
                await self.note_stored({outcome.comparison_id: delivery.envelope.event_id})
        elif delivery is not None:
            await self.note_duplicate(delivery)
        return stored

    async def note_stored(self, events: dict[int, str]) -> None:
        """Record the event ids of results just stored (to tell replays from repeat calls)."""
        try:
            async with self.ledger.store.transaction() as session:
                await note_result_events(session, events)
        except CJGradeError as exc:
            log.warning("result event ids not recorded", error=str(exc))

    async def note_duplicate(self, delivery: Delivery, *, wait_s: float = 2.0) -> None:
        """A result for a comparison already stored: record it if it was a second judge call
        (another event id than the stored result's). The stored result's id is noted right
        after it is stored, by whichever task stored it: this waits up to ``wait_s`` for it."""
        envelope = delivery.envelope
        event = envelope.event() if envelope is not None else None
        if not isinstance(event, ComparisonCompletedV1) or envelope is None:
            return
        usage = Usage(event.input_tokens, event.output_tokens, event.cache_read_tokens,
                      event.cache_write_tokens)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            try:
                async with self.ledger.store.transaction() as session:
                    verdict = await record_repeat_call(
                        session, event.comparison_id, envelope.event_id,
                        attempts=event.attempts, usage=usage, cost_usd=event.cost_usd)
            except CJGradeError as exc:
                log.warning("repeat judge call not recorded", comparison_id=event.comparison_id,
                            error=str(exc))
                return
            if verdict != "unnoted" or loop.time() >= deadline:
                break
            await asyncio.sleep(0.1)
        if verdict == "repeat":
            self.metrics.repeat_calls.inc()
            log.warning("a comparison was judged again after its outcome was stored; recorded",
                        batch_uuid=event.batch_uuid, comparison_id=event.comparison_id)


class DurableBusDispatcher:
    """Dispatch a round over the bus and wait, re-dispatching stalled requests, until every
    comparison of the round has an outcome (see the module docstring)."""

    def __init__(self, transport: Transport, router: ResultRouter, *,
                 redispatch_after_s: float = 30.0,
                 metrics: DistributedMetrics | None = None,
                 source: str = "cjgrade-orchestrator", publish_window: int = 256,
                 base_url: str | None = None) -> None:
        if redispatch_after_s <= 0:
            raise ValueError("redispatch_after_s must be positive")
        self.transport = transport
        self.router = router
        self.redispatch_after_s = redispatch_after_s
        self.metrics = metrics or router.metrics
        self.source = source
        self.publish_window = publish_window
        self.base_url = base_url
        self._unacked: dict[int, Delivery] = {}

    def request_sha256(self, request: JudgeRequest) -> str | None:
        return None  # the worker's judge computes it; its verdict carries it

    def capacity(self) -> int | None:
        """The workers' judge calls in flight (:meth:`ResultRouter.capacity`): rounds are
        sized in waves of it and pipelined once it is known."""
        return self.router.capacity()

    async def acknowledge_stored(self, comparison_ids: list[int], stored: list[bool]) -> None:
        """The engine stored these outcomes (``stored[i]`` False: already stored, a duplicate):
        note the stored results' event ids, record second judge calls, then commit their
        records (handled, then committed)."""
        deliveries = [(cid, ok, self._unacked.pop(cid, None))
                      for cid, ok in zip(comparison_ids, stored, strict=True)]
        events = {cid: d.envelope.event_id for cid, ok, d in deliveries
                  if ok and d is not None and d.envelope is not None}
        if events:
            await self.router.note_stored(events)
        for _, ok, delivery in deliveries:
            if delivery is not None and not ok:
                await self.router.note_duplicate(delivery)
        for _, _, delivery in deliveries:
            if delivery is not None:
                self.router.ack(delivery)

    async def dispatch(self, tasks: Sequence[ComparisonTask]) -> AsyncIterator[ComparisonOutcome]:
        if not tasks:
            return
        batch_uuid = tasks[0].batch_uuid
        by_id = {t.comparison_id: t for t in tasks}
        waiter = self.router.register(batch_uuid, set(by_id))
        # Publish in the background: results of the first requests flow to the engine while
        # the last ones are still being sent.
        publishing = asyncio.ensure_future(self._publish(batch_uuid, list(by_id.values())))
        try:
            while waiter.pending:
                try:
                    async with asyncio.timeout(self.redispatch_after_s):
                        item = await waiter.queue.get()
                except TimeoutError:
                    waiter.stalls += 1
                    if waiter.stalls == STALLS_REPORTED:
                        self._report_stall(batch_uuid, waiter)
                    item = LOST
                if item is LOST:
                    await self._redispatch(batch_uuid, waiter, by_id)
                    continue
                outcome, delivery = item
                if outcome.comparison_id not in waiter.pending:
                    await self.router.note_duplicate(delivery)  # one already yielded
                    self.router.ack(delivery)
                    continue
                waiter.pending.discard(outcome.comparison_id)
                self._unacked[outcome.comparison_id] = delivery
                yield outcome
        finally:
            publishing.cancel()  # a no-op once it has finished
            # gather, not a suppressed await: a cancellation of this task still propagates
            await asyncio.gather(publishing, return_exceptions=True)
            self.router.unregister(batch_uuid, waiter)
            # Yielded outcomes stay in ``_unacked`` until the engine has stored them (it may
            # still be storing the last ones: the generator runs ahead of it); if the engine
            # stops first, they are never acknowledged, so they are redelivered.
            # Results routed here but not yet taken are stored directly.
            while not waiter.queue.empty():
                item = waiter.queue.get_nowait()
                if item is LOST:
                    continue
                outcome, delivery = item
                with contextlib.suppress(Exception):
                    await self.router.store(outcome, batch_uuid, delivery)
                    self.router.ack(delivery)

    async def _publish(self, batch_uuid: str, tasks: list[ComparisonTask]) -> int:
        """Publish requests, ``publish_window`` at a time in flight; on a bus failure log it
        and leave the rest to the next re-dispatch. Returns how many were sent."""
        sent = 0
        for start in range(0, len(tasks), self.publish_window):
            chunk = tasks[start:start + self.publish_window]
            envelopes = [
                make_envelope(request_event(t, base_url=self.base_url),
                              correlation_id=batch_uuid, source=self.source)
                for t in chunk
            ]
            results = await asyncio.gather(
                *(self.transport.publish(ComparisonRequestedV1.TOPIC, e) for e in envelopes),
                return_exceptions=True,
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            sent += len(results) - len(errors)
            if errors:
                log.warning("publishing comparison requests failed; will retry",
                            batch_uuid=batch_uuid, unsent=len(tasks) - sent,
                            error=str(errors[0]))
                if not all(isinstance(e, BusError) for e in errors):
                    raise next(e for e in errors if not isinstance(e, BusError))
                break
        return sent

    def _report_stall(self, batch_uuid: str, waiter: _Waiter) -> None:
        """A round that waited ``STALLS_REPORTED`` times in vain: say so once,
        with where its requests wait (a worker's partition is its comparison id modulo the
        partition count)."""
        self.metrics.stalled_rounds.inc()
        partitions = getattr(self.transport, "partitions", None)
        waiting = sorted(waiter.pending)
        log.error("no result for a round's requests after re-dispatching them; no worker is "
                  "taking them: check that workers run (cjgrade_workers) and that every "
                  "partition of the requests topic is assigned (the workers' 'partitions "
                  "assigned' lines); restarting the workers makes the group assign them again",
                  batch_uuid=batch_uuid, n=len(waiting),
                  waited_s=round(STALLS_REPORTED * self.redispatch_after_s, 1),
                  comparison_ids=waiting[:20],
                  partitions=sorted({c % partitions for c in waiting})
                  if isinstance(partitions, int) and partitions > 0 else None)

    async def _redispatch(self, batch_uuid: str, waiter: _Waiter,
                          by_id: dict[int, ComparisonTask]) -> None:
        # Outcomes stored meanwhile by the router (e.g. delivered before this round
        # registered) need no request; the engine re-reads the store after the round.
        try:
            stored = {c.id for c in await self.ledger_comparisons(batch_uuid)
                      if c.status != "pending"}
        except CJGradeError as exc:
            log.warning("cannot read the batch's comparisons", batch_uuid=batch_uuid,
                        error=str(exc))
            stored = set()
        waiter.pending -= stored
        again = [by_id[i] for i in sorted(waiter.pending)]
        if not again:
            return
        log.info("re-dispatching stalled comparisons", batch_uuid=batch_uuid,
                 n=len(again), after_s=self.redispatch_after_s)
        sent = await self._publish(batch_uuid, again)
        self.metrics.redispatched.inc(sent)
        if sent:
            try:
                async with self.router.ledger.store.transaction() as session:
                    await count_redispatches(session, [t.comparison_id for t in again[:sent]])
            except CJGradeError as exc:
                log.warning("re-dispatches not recorded", batch_uuid=batch_uuid,
                            error=str(exc))

    async def ledger_comparisons(self, batch_uuid: str) -> list:  # type: ignore[type-arg]
        return await self.router.ledger.comparisons(batch_uuid)
