"""The orchestrator service: run batches requested over the bus, on remote workers.

* Consumes ``assessment.requested`` (consumer group ``cjgrade-orchestrator``). A request for a
  batch already in the store just makes sure it runs; a new one is validated, created under
  the request's ``batch_uuid`` from texts in the content store, and started. An invalid request
  stores nothing and is answered with ``batch.failed`` (through the outbox).
* Runs each batch with the engine (:class:`~cjgrade.engine.loop.BatchEngine`) and a
  :class:`~cjgrade.distributed.dispatcher.DurableBusDispatcher`, so comparisons are judged by
  ``cjgrade worker`` processes and stalled ones are re-dispatched.
* On start, and every ``resume_interval_s``, resumes every unfinished batch of the store (the
  engine's lease keeps two orchestrators off the same batch).
* Runs the outbox relay, so events written with a state change are published even when the
  process that wrote them died before publishing.

The request's ``options`` are the batch options (``cjgrade.engine.options.BatchOptions``) plus
reserved keys: ``texts`` (content ids of ``instructions``, ``student_prompt``, ``rubric``,
``system_prompt``), ``grades_requested`` and ``base_url``; see :mod:`cjgrade.distributed.submit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from cjgrade.bus.events import AssessmentRequestedV1, BatchFailedV1, make_envelope
from cjgrade.bus.outbox import OutboxRelay
from cjgrade.bus.transport import Subscription, Transport
from cjgrade.distributed.dispatcher import ORCHESTRATOR_GROUP, DurableBusDispatcher, ResultRouter
from cjgrade.distributed.logs import bind_context
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.engine.dispatch import ComparisonOutcome
from cjgrade.engine.ledger import BatchLedger
from cjgrade.engine.loop import BatchEngine
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.engine.spec_codec import request_text_ids, spec_from_request
from cjgrade.errors import BusError, CJGradeError, ConfigError
from cjgrade.store import Store, get_texts
from cjgrade.store.records import NotFound

__all__ = ["Orchestrator", "OrchestratorConfig", "load_request_spec"]

log = structlog.get_logger("cjgrade.orchestrator")



@dataclass(frozen=True)
class OrchestratorConfig:
    redispatch_after_s: float = 30.0
    """Re-publish a round's unanswered requests when no result came for this long."""
    resume_interval_s: float = 30.0
    """How often unfinished batches not running here are looked for."""
    relay_poll_s: float = 1.0
    group: str = ORCHESTRATOR_GROUP
    source: str = "cjgrade-orchestrator"


class CountingLedger(BatchLedger):
    """The engine's ledger: counts the outcomes it really stores (not the duplicates) and
    tells the dispatcher which are in the database, so their records can be committed."""

    def __init__(self, store: Store, metrics: DistributedMetrics,
                 on_stored: Callable[[list[int], list[bool]], Awaitable[None]] | None = None,
                 ) -> None:
        super().__init__(store)
        self.metrics = metrics
        self.on_stored = on_stored

    async def record_outcomes(self, outcomes: list[ComparisonOutcome]) -> list[bool]:
        stored = await super().record_outcomes(outcomes)
        for outcome, ok in zip(outcomes, stored, strict=True):
            if ok:
                self.metrics.stored.labels("succeeded" if outcome.succeeded else "failed").inc()
        if self.on_stored is not None:
            await self.on_stored([o.comparison_id for o in outcomes], stored)
        return stored


class TimedBatchEngine(BatchEngine):
    """The engine with its steps timed (``plan`` = pair selection and request, ``refit``,
    ``round`` = wait for and store a round's outcomes, the next round's early part planned
    meanwhile included, ``finalise``) and its stored outcomes counted, into the metrics.

    Rounds follow the cluster's capacity (:meth:`DurableBusDispatcher.capacity`, the workers'
    judge calls in flight): a batch without an explicit ``round_size`` gets half its essays
    rounded up to whole waves of it, and the rounds are pipelined (see
    :mod:`cjgrade.engine.loop`); before any worker is known, the ``concurrency`` option sizes
    the waves."""

    def __init__(self, store: Store, dispatcher: DurableBusDispatcher, *args: Any,
                 metrics: DistributedMetrics, **kwargs: Any) -> None:
        super().__init__(store, dispatcher, *args, **kwargs)
        self.ledger = CountingLedger(store, metrics, dispatcher.acknowledge_stored)
        self.metrics = metrics
        self.step_seconds: dict[str, float] = {"plan": 0.0, "refit": 0.0, "round": 0.0,
                                               "finalise": 0.0}
        self._logged_round_size: int | None = None

    async def _timed(self, step: str, coro: Any) -> Any:
        started = time.perf_counter()
        try:
            return await coro
        finally:
            elapsed = time.perf_counter() - started
            self.step_seconds[step] += elapsed
            self.metrics.engine_step.labels(step).observe(elapsed)

    def _round_size(self, state: Any) -> int:
        size = super()._round_size(state)
        if size != self._logged_round_size:
            self._logged_round_size = size
            log.info("round size", round_size=size, capacity=self._capacity())
        return size

    async def _plan(self, *args: Any, **kwargs: Any) -> Any:
        return await self._timed("plan", super()._plan(*args, **kwargs))

    async def _refit(self, state: Any, round_index: int, budget: int) -> Any:
        decision = await self._timed("refit", super()._refit(state, round_index, budget))
        est = state.estimate
        done = [c for c in state.comparisons if c.status != "pending"]
        log.info("round finished", round=round_index, comparisons=len(state.comparisons),
                 budget=budget, failed=sum(1 for c in done if c.status == "failed"),
                 ssr=None if est is None else round(float(est.ssr), 4),
                 stop=decision.stop, stop_rule=decision.rule,
                 seconds={k: round(v, 3) for k, v in self.step_seconds.items()})
        return decision

    async def _judge_round(self, *args: Any, **kwargs: Any) -> Any:
        return await self._timed("round", super()._judge_round(*args, **kwargs))

    async def _finish(self, *args: Any, **kwargs: Any) -> Any:
        return await self._timed("finalise", super()._finish(*args, **kwargs))


async def load_request_spec(store: Store, event: AssessmentRequestedV1) -> BatchSpec:
    """The batch spec of an assessment request, its texts read from the content store
    (:func:`cjgrade.engine.spec_codec.spec_from_request`).

    Raises
    ------
    NotFound
        A content id is not in the store (upload the texts first).
    ConfigError
        Unknown options or text names.
    """
    ids = [e.content_sha256 for e in event.essays] + list(request_text_ids(event).values())
    async with store.transaction() as session:
        texts = await get_texts(session, ids)
    return spec_from_request(event, texts)


class Orchestrator:
    """See the module docstring. ``run`` until ``stop`` is set or the task is cancelled."""

    def __init__(self, store: Store, transport: Transport,
                 config: OrchestratorConfig | None = None, *,
                 metrics: DistributedMetrics | None = None) -> None:
        self.store = store
        self.transport = transport
        self.config = config or OrchestratorConfig()
        self.metrics = metrics or DistributedMetrics()
        self.ledger = BatchLedger(store)
        self.relay = OutboxRelay(store, transport, poll_s=self.config.relay_poll_s)
        self.router: ResultRouter | None = None
        self.running: dict[str, asyncio.Task[None]] = {}
        self.engines: dict[str, TimedBatchEngine] = {}
        self.finished: dict[str, str] = {}
        """batch uuid -> final status, for the batches this orchestrator ran to the end."""

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop``: batches running here are then stopped between two stored
        outcomes and their leases released (another orchestrator, or this one restarted,
        resumes them at once); results of calls still in flight are stored by whoever runs
        the batch next."""
        self.router = ResultRouter(self.transport, self.ledger, self.metrics,
                                   group=self.config.group)
        requests = self.transport.subscribe(AssessmentRequestedV1.TOPIC, group=self.config.group,
                                            sole=True)
        services = [
            asyncio.ensure_future(self.relay.run()),
            asyncio.ensure_future(self.router.run()),
            asyncio.ensure_future(self._consume_requests(requests)),
            asyncio.ensure_future(self._resume_loop()),
        ]
        stopper = asyncio.ensure_future(stop.wait() if stop else asyncio.Event().wait())
        try:
            done, _ = await asyncio.wait({*services, stopper},
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and not task.cancelled() and task.exception():
                    log.error("orchestrator service failed", exc_info=task.exception())
                    raise task.exception()  # type: ignore[misc]
        finally:
            batches = [t for t in self.running.values() if not t.done()]
            if batches:
                log.info("stopping batches; their leases are released", n=len(batches))
            for task in [*services, stopper, *self.running.values()]:
                task.cancel()
            await asyncio.gather(*services, *self.running.values(), return_exceptions=True)
            with contextlib.suppress(Exception):
                await requests.close()

    # --- requests ------------------------------------------------------------------------

    async def _consume_requests(self, sub: Subscription) -> None:
        while True:
            try:
                delivery = await sub.next_delivery()
            except StopAsyncIteration:
                return
            try:
                event = delivery.envelope.event() if delivery.envelope is not None else None
            except BusError as exc:
                log.error("invalid assessment request skipped", error=str(exc))
                event = None
            if isinstance(event, AssessmentRequestedV1):
                assert delivery.envelope is not None
                with bind_context(batch_uuid=event.batch_uuid,
                                  correlation_id=delivery.envelope.correlation_id):
                    await self.accept(event)
            sub.ack(delivery)

    async def accept(self, event: AssessmentRequestedV1) -> bool:
        """Create (if new) and start the requested batch; False when it was refused."""
        batch_uuid = event.batch_uuid
        try:
            await self.ledger.load_batch(batch_uuid)
        except NotFound:
            try:
                spec = await load_request_spec(self.store, event)
                validate_spec(spec)
                await self.ledger.create_batch(spec, batch_uuid, [])
            except CJGradeError as exc:
                log.warning("assessment request refused", error=str(exc))
                await self._refuse(batch_uuid, exc)
                return False
            log.info("batch created from request", n_essays=len(event.essays),
                     judge=event.judge)
        self.start_batch(batch_uuid)
        return True

    async def _refuse(self, batch_uuid: str, exc: CJGradeError) -> None:
        failed = BatchFailedV1(batch_uuid=batch_uuid, reason="invalid_request", details=str(exc))
        envelope = make_envelope(failed, source=self.config.source)
        await self.ledger.add_events([(BatchFailedV1.TOPIC, batch_uuid,
                                       envelope.model_dump(mode="json"))])
        self.relay.notify()

    # --- running batches -------------------------------------------------------------------

    def start_batch(self, batch_uuid: str) -> None:
        """Run (or resume) a batch in a task of its own unless it already runs here."""
        task = self.running.get(batch_uuid)
        if task is not None and not task.done():
            return
        self.running[batch_uuid] = asyncio.ensure_future(self._run_batch(batch_uuid))

    async def resume_unfinished(self) -> list[str]:
        """Start every unfinished batch nobody holds (free or expired lease) not running here;
        returns their uuids."""
        started = []
        for batch_uuid in await self.ledger.resumable():
            if batch_uuid not in self.running or self.running[batch_uuid].done():
                self.start_batch(batch_uuid)
                started.append(batch_uuid)
        return started

    async def _resume_loop(self) -> None:
        while True:
            try:
                resumed = await self.resume_unfinished()
                if resumed:
                    log.info("resuming unfinished batches", batches=resumed)
            except CJGradeError as exc:
                log.warning("cannot list unfinished batches", error=str(exc))
            await asyncio.sleep(self.config.resume_interval_s)

    async def _run_batch(self, batch_uuid: str) -> None:
        assert self.router is not None
        try:
            base_url = (await self.ledger.load_batch(batch_uuid)).spec.base_url
        except CJGradeError as exc:
            log.error("batch cannot be loaded; it will be retried", batch_uuid=batch_uuid,
                      error=str(exc))
            return
        dispatcher = DurableBusDispatcher(
            self.transport, self.router, redispatch_after_s=self.config.redispatch_after_s,
            metrics=self.metrics, source=self.config.source, base_url=base_url,
        )
        engine = TimedBatchEngine(self.store, dispatcher, transport=self.transport,
                                  metrics=self.metrics)
        self.engines[batch_uuid] = engine
        started = time.monotonic()
        outcome = "error"
        self.metrics.batches_running.inc()
        with bind_context(batch_uuid=batch_uuid):
            try:
                await self.router.start()
                result = await engine.run(batch_uuid)
                outcome = result.status
                self.finished[batch_uuid] = result.status
                log.info("batch finished", status=result.status, stop_reason=result.stop_reason,
                         n_comparisons=len(result.comparisons),
                         seconds=round(time.monotonic() - started, 3))
            except ConfigError as exc:  # another live orchestrator holds the lease
                log.info("batch not run here", reason=str(exc))
            except CJGradeError as exc:
                log.error("batch stopped; it will be resumed", error=str(exc))
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            except Exception:
                log.exception("batch crashed; it will be resumed")
            finally:
                self.metrics.batches_running.dec()
                if outcome in ("completed", "failed"):
                    self.metrics.batch_duration.labels(outcome).observe(
                        time.monotonic() - started)
                self.relay.notify()
