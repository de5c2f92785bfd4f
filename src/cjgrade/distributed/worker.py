"""The comparison worker: consume ``comparison.requested`` in a consumer group, judge, publish
``comparison.completed``.

* At most ``concurrency`` judge calls in flight; the next request is only read when a slot is
  free, so unread requests stay on the broker for the group's other members.
* A request is acknowledged (its offset committed) only after its result is published, so a
  worker killed mid-call leaves its requests to the group (redelivered after the rebalance).
* Idempotent: a request whose comparison id this worker has already answered is answered
  again from memory (the same result, no judge call); one being judged right now is skipped.
  The orchestrator stores a comparison's outcome once, whatever arrives twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass

import structlog

from cjgrade.bus.events import ComparisonRequestedV1, EnvelopeModel
from cjgrade.bus.events import make_envelope as _make_envelope
from cjgrade.bus.kafka import Delivery
from cjgrade.bus.transport import Transport
from cjgrade.distributed.judges import WorkerJudges
from cjgrade.distributed.logs import bind_context
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.engine.dispatch import (
    COMPARISON_COMPLETED,
    COMPARISON_REQUESTED,
    WORKER_GROUP,
    ComparisonOutcome,
    ComparisonTask,
    _judge_request,
    completed_event,
    judge_task,
)
from cjgrade.errors import BusError, CJGradeError

__all__ = ["ComparisonWorker", "WorkerConfig"]

log = structlog.get_logger("cjgrade.worker")


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 8
    """Judge calls in flight at once."""
    group: str = WORKER_GROUP
    """Consumer group shared by all workers."""
    remember: int = 50_000
    """Answered comparisons kept in memory to answer a redelivery without judging again."""
    source: str = "cjgrade-worker"
    lag_interval_s: float = 5.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")


class ComparisonWorker:
    """One worker process (or task). ``run`` until ``stop`` is set or the task is cancelled."""

    def __init__(
        self,
        transport: Transport,
        judges: WorkerJudges,
        config: WorkerConfig | None = None,
        *,
        metrics: DistributedMetrics | None = None,
    ) -> None:
        self.transport = transport
        self.judges = judges
        self.config = config or WorkerConfig()
        self.metrics = metrics or DistributedMetrics()
        self._answered: OrderedDict[tuple[str, int], EnvelopeModel] = OrderedDict()
        self._judging: set[tuple[str, int]] = set()
        self.judged = 0
        """Judge calls made (first answers, successes and failures)."""
        self.replayed = 0
        """Redelivered requests answered from memory."""

    async def run(self, stop: asyncio.Event | None = None) -> int:
        """Serve requests; returns the number of judge calls made."""
        sub = self.transport.subscribe(COMPARISON_REQUESTED, group=self.config.group)
        slots = asyncio.Semaphore(self.config.concurrency)
        running: set[asyncio.Task[None]] = set()
        next_delivery = getattr(sub, "next_delivery", None)
        ack = getattr(sub, "ack", None)
        lag = asyncio.ensure_future(self._report_lag(sub))

        async def receive() -> Delivery:
            if callable(next_delivery):
                delivery: Delivery = await next_delivery()
                return delivery
            envelope = await sub.__aiter__().__anext__()  # a transport without acks
            return Delivery(envelope, 0, 0, COMPARISON_REQUESTED)

        async def consume() -> None:
            while True:
                await slots.acquire()
                try:
                    delivery = await receive()
                except StopAsyncIteration:
                    return
                except BaseException:
                    slots.release()
                    raise
                job = asyncio.ensure_future(self._handle(delivery, ack))
                running.add(job)
                job.add_done_callback(running.discard)
                job.add_done_callback(lambda _: slots.release())

        consumer = asyncio.ensure_future(consume())
        stopper = asyncio.ensure_future(stop.wait() if stop else asyncio.Event().wait())
        try:
            await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if consumer.done() and not consumer.cancelled() and consumer.exception():
                raise consumer.exception()  # type: ignore[misc]
        finally:
            for task in (consumer, stopper, lag):
                task.cancel()
            if running:  # finish what was started, then let the offsets be committed
                await asyncio.gather(*running, return_exceptions=True)
            await sub.close()
        return self.judged

    async def _report_lag(self, sub: object) -> None:
        lag = getattr(sub, "lag", None)
        if not callable(lag):
            return
        while True:
            await asyncio.sleep(self.config.lag_interval_s)
            with contextlib.suppress(Exception):
                self.metrics.queue_lag.labels(COMPARISON_REQUESTED).set(await lag())

    async def _handle(self, delivery: Delivery, ack: object) -> None:
        try:
            envelope = delivery.envelope
            event = envelope.event() if envelope is not None else None
            if isinstance(event, ComparisonRequestedV1) and envelope is not None:
                with bind_context(batch_uuid=event.batch_uuid,
                                  comparison_id=event.comparison_id,
                                  correlation_id=envelope.correlation_id):
                    await self._answer(event, envelope)
        except BusError as exc:
            log.error("invalid comparison request skipped", error=str(exc))
        finally:
            if callable(ack):
                ack(delivery)

    async def _answer(self, event: ComparisonRequestedV1, request: EnvelopeModel) -> None:
        cid = (event.batch_uuid, event.comparison_id)
        cached = self._answered.get(cid)
        if cached is not None:
            # Redelivered after a crash, a rebalance or a re-dispatch: the result may have been
            # lost, so publish it again; never pay for the judge twice.
            self._answered.move_to_end(cid)
            self.replayed += 1
            self.metrics.duplicates.inc()
            await self._publish(cached)
            log.info("request answered from memory")
            return
        if cid in self._judging:
            self.metrics.duplicates.inc()
            return  # being judged right now; that answer will be published
        self._judging.add(cid)
        try:
            outcome = await self._judge(event)
            envelope = _make_envelope(
                completed_event(event.batch_uuid, outcome),
                correlation_id=request.correlation_id or request.event_id,
                source=self.config.source,
            )
            self._remember(cid, envelope)  # before publishing: a re-dispatch then replays it
            await self._publish(envelope)
        finally:
            self._judging.discard(cid)

    async def _publish(self, envelope: EnvelopeModel) -> None:
        try:
            await self.transport.publish(COMPARISON_COMPLETED, envelope)
        except BusError as exc:
            # The orchestrator re-dispatches unanswered requests; this worker then replays
            # the remembered result.
            log.error("result not published; it is sent again when re-requested",
                      error=str(exc))

    async def _judge(self, event: ComparisonRequestedV1) -> ComparisonOutcome:
        task = ComparisonTask(
            comparison_id=event.comparison_id, batch_uuid=event.batch_uuid, round=event.round,
            slot=event.slot, essay_a="", essay_b="", judge=event.judge,
            request=_judge_request(event.request),
        )
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            judge = self.judges.get(event.judge)
            outcome = await judge_task(judge, task)
        except CJGradeError as exc:
            # Not a judge failure but a judge this worker cannot build or a request it cannot
            # judge (e.g. a sim judge without the essay's ability): report it as the
            # comparison's failure, with the reason, instead of crashing on every redelivery.
            log.error("comparison cannot be judged here", judge=event.judge, error=str(exc))
            outcome = ComparisonOutcome(
                comparison_id=event.comparison_id, error_code=type(exc).__name__,
                error_reason=str(exc),
            )
        finally:
            self.metrics.in_flight.dec()
        elapsed = time.perf_counter() - started
        self.judged += 1
        if outcome.verdict is not None:
            self.metrics.observe_verdict(outcome.verdict, elapsed)
        else:
            self.metrics.observe_failure(event.judge, elapsed)
            log.warning("comparison failed", error_code=outcome.error_code,
                        error=outcome.error_reason)
        return outcome

    def _remember(self, cid: tuple[str, int], envelope: EnvelopeModel) -> None:
        self._answered[cid] = envelope
        while len(self._answered) > self.config.remember:
            self._answered.popitem(last=False)
