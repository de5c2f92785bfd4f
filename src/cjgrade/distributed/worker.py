"""The comparison worker: consume ``comparison.requested`` in a consumer group, judge, publish
``comparison.completed``.

* At most ``concurrency`` judge calls in flight; the next request is only read when a slot is
  free, so unread requests stay on the broker for the group's other members.
* A request is acknowledged (its offset committed) only after its result is published, so a
  worker killed mid-call leaves its requests to the group (redelivered after the rebalance).
* Idempotent: a request whose comparison id this worker has already answered is answered
  again from memory (the same result, no judge call); one being judged right now is skipped;
  with a store (``outcomes``), one whose outcome is already stored is skipped without a judge
  call (another worker answered it). The orchestrator stores a comparison's outcome once,
  whatever arrives twice.
* Stopping (:meth:`ComparisonWorker.run`'s ``stop``): no new request is read; calls in flight
  get ``drain_timeout_s`` to finish and publish; any still running then are cancelled and
  left unacknowledged, so the group hands them to another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from cjgrade.bus.events import ComparisonCompletedV1, ComparisonRequestedV1, EnvelopeModel
from cjgrade.bus.events import make_envelope as _make_envelope
from cjgrade.bus.transport import Delivery, Subscription, Transport
from cjgrade.distributed.judges import WorkerJudges
from cjgrade.distributed.logs import bind_context
from cjgrade.distributed.messages import completed_event, task_from_event
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.engine.dispatch import ComparisonOutcome, judge_task
from cjgrade.errors import BusError, CJGradeError

__all__ = ["WORKER_GROUP", "ComparisonWorker", "OutcomeLookup", "WorkerConfig",
           "worker_client_id", "worker_id_of"]

log = structlog.get_logger("cjgrade.worker")

WORKER_GROUP = "cjgrade-workers"
"""Consumer group of the comparison workers: each request goes to one of them."""


_CLIENT_PREFIX = "cjgrade-worker/"


def worker_client_id(worker_id: str) -> str:
    """The Kafka client id of a worker: names it in the workers' group as its results do."""
    return _CLIENT_PREFIX + worker_id


def worker_id_of(client_id: str) -> str | None:
    """The worker id in a group member's client id (None for another kind of client)."""
    if not client_id.startswith(_CLIENT_PREFIX):
        return None
    return client_id.removeprefix(_CLIENT_PREFIX)


class OutcomeLookup(Protocol):
    """Answers whether a comparison already has a stored outcome."""

    async def has_outcome(self, batch_uuid: str, comparison_id: int) -> bool: ...


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
    drain_timeout_s: float = 30.0
    """On stop: how long calls in flight may take to finish before they are handed back."""
    worker_id: str = field(default_factory=lambda: (
        f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"))
    """Named on every result, with ``concurrency`` (the orchestrator's view of capacity)."""

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
        outcomes: OutcomeLookup | None = None,
    ) -> None:
        self.transport = transport
        self.judges = judges
        self.config = config or WorkerConfig()
        self.metrics = metrics or DistributedMetrics()
        self.outcomes = outcomes
        self._answered: OrderedDict[tuple[str, int], EnvelopeModel] = OrderedDict()
        self._judging: set[tuple[str, int]] = set()
        self.judged = 0
        """Judge calls made (first answers, successes and failures)."""
        self.replayed = 0
        """Redelivered requests answered from memory."""
        self.skipped_stored = 0
        """Requests not judged because their outcome was already stored."""
        self.consuming = False
        """True while the worker reads requests (for readiness)."""

    async def run(self, stop: asyncio.Event | None = None) -> int:
        """Serve requests; returns the number of judge calls made."""
        sub = self.transport.subscribe(ComparisonRequestedV1.TOPIC, group=self.config.group)
        slots = asyncio.Semaphore(self.config.concurrency)
        running: set[asyncio.Task[None]] = set()
        lag = asyncio.ensure_future(self._report_lag(sub))

        async def consume() -> None:
            while True:
                await slots.acquire()
                try:
                    delivery = await sub.next_delivery()
                except StopAsyncIteration:
                    return
                except BaseException:
                    slots.release()
                    raise
                job = asyncio.ensure_future(self._handle(delivery, sub))
                running.add(job)
                job.add_done_callback(running.discard)
                job.add_done_callback(lambda _: slots.release())

        await sub.start()
        self.consuming = True
        consumer = asyncio.ensure_future(consume())
        stopper = asyncio.ensure_future(stop.wait() if stop else asyncio.Event().wait())
        try:
            await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if consumer.done() and not consumer.cancelled() and consumer.exception():
                raise consumer.exception()  # type: ignore[misc]
        finally:
            self.consuming = False
            for task in (consumer, stopper, lag):
                task.cancel()
            await self._drain(running)
            await sub.close()
        return self.judged

    async def _drain(self, running: set[asyncio.Task[None]]) -> None:
        """Let calls in flight finish (bounded), then hand back the rest unacknowledged."""
        if not running:
            return
        log.info("finishing calls in flight", n=len(running),
                 timeout_s=self.config.drain_timeout_s)
        _, late = await asyncio.wait(set(running), timeout=self.config.drain_timeout_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
            log.warning("calls still running at the drain timeout were handed back",
                        n=len(late))

    async def _report_lag(self, sub: Subscription) -> None:
        while True:
            await asyncio.sleep(self.config.lag_interval_s)
            with contextlib.suppress(Exception):
                self.metrics.queue_lag.labels(ComparisonRequestedV1.TOPIC).set(await sub.lag())

    async def _handle(self, delivery: Delivery, sub: Subscription) -> None:
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
        except Exception:  # a bug: logged, and the record still acknowledged (not retried)
            log.exception("comparison request crashed the handler")
        # Acknowledged only when handled: a call cancelled at shutdown is redelivered.
        sub.ack(delivery)

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
        if await self._already_stored(event):
            self.skipped_stored += 1
            self.metrics.duplicates.inc()
            log.info("request skipped: its outcome is already stored")
            return
        self._judging.add(cid)
        try:
            outcome = await self._judge(event)
            envelope = _make_envelope(
                completed_event(event.batch_uuid, outcome).model_copy(update={
                    "worker_id": self.config.worker_id,
                    "worker_concurrency": self.config.concurrency}),
                correlation_id=request.correlation_id or request.event_id,
                source=self.config.source,
            )
            self._remember(cid, envelope)  # before publishing: a re-dispatch then replays it
            await self._publish(envelope)
        finally:
            self._judging.discard(cid)

    async def _already_stored(self, event: ComparisonRequestedV1) -> bool:
        if self.outcomes is None:
            return False
        try:
            return await self.outcomes.has_outcome(event.batch_uuid, event.comparison_id)
        except CJGradeError as exc:  # the database is briefly unavailable: judge anyway
            log.warning("cannot check the store before judging", error=str(exc))
            return False

    async def _publish(self, envelope: EnvelopeModel) -> None:
        try:
            await self.transport.publish(ComparisonCompletedV1.TOPIC, envelope)
        except BusError as exc:
            # The orchestrator re-dispatches unanswered requests; this worker then replays
            # the remembered result.
            log.error("result not published; it is sent again when re-requested",
                      error=str(exc))

    async def _judge(self, event: ComparisonRequestedV1) -> ComparisonOutcome:
        task = task_from_event(event)
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            judge = self.judges.get(event.judge, base_url=event.base_url)
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
