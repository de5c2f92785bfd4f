"""Process entry points: the worker service, the orchestrator service, and the hook that makes
``cjgrade serve`` run the orchestrator next to the API.

:class:`OrchestratorService` keeps one orchestrator running for the life of the process:

* it waits for the broker (retrying with a growing pause, one log line per outage) instead of
  dying when the broker is not up yet, and starts again after any failure;
* it runs the orchestrator only while it holds the database's orchestrator lock
  (:mod:`cjgrade.distributed.singleton`); a second instance stands by, loudly;
* its :meth:`~OrchestratorService.checks` feed ``/readyz``: unready until the broker answered
  and the orchestrator runs (or stands by);
* on stop it stops the orchestrator within ``stop_timeout_s`` (batches released for takeover).

``attach_orchestrator(settings)`` returns a lifespan hook for :func:`cjgrade.api.create_app`:
the service runs on the app's store, its metrics on the app's registry (``/metrics``), its
checks in the app's ``/readyz``; uvicorn's own SIGINT/SIGTERM handling stops it with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog

from cjgrade.bus.kafka import KafkaTransport, check_bootstrap
from cjgrade.bus.transport import DEFAULT_PARTITIONS
from cjgrade.config import Settings
from cjgrade.distributed.judges import WorkerJudges
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.distributed.orchestrator import Orchestrator, OrchestratorConfig
from cjgrade.distributed.singleton import OrchestratorLock
from cjgrade.distributed.worker import (
    WORKER_GROUP,
    ComparisonWorker,
    WorkerConfig,
    worker_client_id,
    worker_id_of,
)
from cjgrade.errors import BusError, CJGradeError, ConfigError
from cjgrade.store import Store

__all__ = [
    "OrchestratorService",
    "StoredOutcomes",
    "attach_orchestrator",
    "bootstrap_servers",
    "run_orchestrator",
    "run_worker",
]

log = structlog.get_logger("cjgrade.service")


def bootstrap_servers(flag: str | None, settings: Settings | None) -> str:
    """``--bootstrap`` > ``KAFKA_BOOTSTRAP_SERVERS`` / config; ConfigError when neither, or
    when it is not a list of ``HOST:PORT``."""
    value = flag or (settings.kafka_bootstrap_servers if settings is not None else None)
    return check_bootstrap(value or "")


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


WORKER_REVOKE_WAIT_S = 5.0
"""How long a worker waits for its judge calls in flight when its partitions are revoked
(capped at half its session timeout)."""


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


class OrchestratorService:
    """See the module docstring. ``state`` is one of ``starting``, ``waiting_for_broker``,
    ``standby``, ``running``, ``restarting``, ``stopped``."""

    def __init__(
        self, store: Store, bootstrap: str, *, config: OrchestratorConfig | None = None,
        metrics: DistributedMetrics | None = None, partitions: int = DEFAULT_PARTITIONS,
        transport_options: Mapping[str, Any] | None = None, retry_max_s: float = 15.0,
        standby_poll_s: float = 5.0, stop_timeout_s: float = 20.0,
        workers_poll_s: float = 5.0,
    ) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.config = config or OrchestratorConfig()
        self.metrics = metrics or DistributedMetrics()
        self.partitions = partitions
        self.transport_options = dict(transport_options or {})
        self.retry_max_s = retry_max_s
        self.standby_poll_s = standby_poll_s
        self.stop_timeout_s = stop_timeout_s
        self.workers_poll_s = workers_poll_s
        self.state = "starting"
        self.transport: KafkaTransport | None = None
        self.orchestrator: Orchestrator | None = None
        self.lock = OrchestratorLock(store)

    def checks(self) -> dict[str, str]:
        """Readiness checks: ``broker`` and ``orchestrator`` ("ok" or what is wrong)."""
        t = self.transport
        broker = "ok" if t is not None and t.reachable() else "unreachable"
        if self.state in ("running", "standby"):
            orchestrator = "ok" if self.state == "running" else "ok (standby)"
        else:
            orchestrator = self.state
        return {"broker": broker, "orchestrator": orchestrator}

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the orchestrator running until ``stop`` is set."""
        pause = 1.0
        try:
            while not stop.is_set():
                transport = await self._connect(stop)
                if transport is None:
                    return
                try:
                    await self._serve(transport, stop)
                    pause = 1.0
                except CJGradeError as exc:
                    log.error("orchestrator stopped; starting again", error=str(exc),
                              retry_in_s=pause)
                except Exception:
                    log.exception("orchestrator crashed; starting again", retry_in_s=pause)
                finally:
                    self.metrics.orchestrator_active.set(0)
                    await self.lock.release()
                    self.transport = None
                    with contextlib.suppress(Exception):
                        await transport.close()
                if not stop.is_set():
                    self.state = "restarting"
                    await _pause(stop, pause)
                    pause = min(pause * 2, self.retry_max_s)
        finally:
            self.state = "stopped"

    async def _connect(self, stop: asyncio.Event) -> KafkaTransport | None:
        """A started transport, retrying until the broker answers (None once stopped)."""
        self.state = "waiting_for_broker"
        pause, failures = 1.0, 0
        while not stop.is_set():
            transport = KafkaTransport(self.bootstrap, client_id="cjgrade-orchestrator",
                                       partitions=self.partitions, **self.transport_options)
            try:
                await transport.start()
            except Exception as exc:  # BusError; anything else is logged with its traceback
                failures += 1
                with contextlib.suppress(Exception):
                    await transport.close()
                if failures == 1 or failures % 20 == 0:
                    log.error("broker not reachable; the orchestrator waits for it (readiness: "
                              "unready)", bootstrap=self.bootstrap, error=str(exc),
                              attempts=failures, retry_in_s=pause,
                              exc_info=not isinstance(exc, BusError))
                await _pause(stop, pause)
                pause = min(pause * 2, self.retry_max_s)
                continue
            if failures:
                log.info("broker reachable; starting the orchestrator", bootstrap=self.bootstrap)
            self.transport = transport
            return transport
        return None

    async def _serve(self, transport: KafkaTransport, stop: asyncio.Event) -> None:
        announced = False
        while not await self.lock.try_acquire():
            self.state = "standby"
            if not announced:
                log.error("another orchestrator is active on this database; this one stands "
                          "by and takes over when it stops (only one may run: two would both "
                          "handle every request and result)", active=await self.lock.holder())
                announced = True
            await _pause(stop, self.standby_poll_s)
            if stop.is_set():
                return
        if announced:
            log.warning("the active orchestrator is gone; taking over")
        self.state = "running"
        self.metrics.orchestrator_active.set(1)
        self.orchestrator = Orchestrator(self.store, transport, self.config, metrics=self.metrics)
        log.info("orchestrator running", bootstrap=self.bootstrap, lock=self.lock.identity)
        inner = asyncio.Event()
        running = asyncio.ensure_future(self.orchestrator.run(inner))
        watch = asyncio.ensure_future(self.lock.watch())
        stopper = asyncio.ensure_future(stop.wait())
        workers = asyncio.ensure_future(self._watch_workers(transport))
        try:
            await asyncio.wait({running, watch, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            inner.set()
            for task in (watch, stopper, workers):
                task.cancel()
            await asyncio.gather(workers, return_exceptions=True)
            try:
                async with asyncio.timeout(self.stop_timeout_s):
                    await asyncio.shield(running)
            except TimeoutError:
                log.warning("orchestrator did not stop in time; cancelled",
                            timeout_s=self.stop_timeout_s)
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
            await asyncio.gather(watch, stopper, return_exceptions=True)
        if watch.done() and not watch.cancelled() and watch.exception() is not None:
            raise watch.exception()  # type: ignore[misc]
        if running.done() and not running.cancelled() and running.exception() is not None:
            raise running.exception()  # type: ignore[misc]


    async def _watch_workers(self, transport: KafkaTransport) -> None:
        """Log a line (and set ``cjgrade_workers``) whenever the workers' group changes, and
        tell the result router which workers are in it (the cluster's capacity)."""
        known: int | None = None
        while True:
            members = await transport.group_members(WORKER_GROUP)
            n = None if members is None else len(members)
            router = self.orchestrator.router if self.orchestrator is not None else None
            if members is not None and router is not None:
                ids = [worker_id_of(m) for m in members]
                # a member that is not a named worker (another version, a test's in-process
                # worker): the group cannot be matched with the results, so it is not used
                router.workers_in_group(None if None in ids else {i for i in ids if i})
            if n is not None and n != known:
                self.metrics.workers.set(n)
                log.info("workers changed", workers=n, before=known)
                if n == 0:
                    log.warning("no worker is consuming comparison requests; start "
                                "`cjgrade worker` processes")
                known = n
            await asyncio.sleep(self.workers_poll_s)


class StoredOutcomes:
    """A worker's view of the store: whether a comparison already has an outcome."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def has_outcome(self, batch_uuid: str, comparison_id: int) -> bool:
        from cjgrade.store.redeliveries import has_outcome

        async with self.store.transaction() as session:
            return await has_outcome(session, batch_uuid, comparison_id)


async def run_worker(
    bootstrap: str, *, concurrency: int = 8, allow: Sequence[str] | None = None,
    judge_options: Mapping[str, Mapping[str, Any]] | None = None,
    metrics_port: int | None = None, partitions: int = DEFAULT_PARTITIONS,
    transport_options: Mapping[str, Any] | None = None,
    base_urls: Sequence[str] | None = None, database_url: str | None = None,
    drain_timeout_s: float = 30.0, health_host: str = "0.0.0.0",
    stop: asyncio.Event | None = None,
) -> int:
    """Run one worker until SIGINT/SIGTERM (or ``stop``); returns the judge calls made.

    ``metrics_port`` serves ``/metrics``, ``/healthz`` and ``/readyz``; ``database_url`` lets
    the worker skip requests whose outcome is already stored."""
    from cjgrade.distributed.health import HealthServer

    metrics = DistributedMetrics()
    judges = WorkerJudges(allow=allow, options=judge_options, concurrency=concurrency,
                          base_urls=base_urls)
    store = None
    if database_url:
        from cjgrade.store import open_store

        store = await open_store(database_url, migrate=False)
    # A worker lets its judge calls finish before a rebalance moves their partitions (else the
    # next owner pays for them again); see KafkaTransport's ``revoke_wait_s``.
    options = {"revoke_wait_s": WORKER_REVOKE_WAIT_S, **dict(transport_options or {})}
    config = WorkerConfig(concurrency=concurrency, drain_timeout_s=drain_timeout_s)
    # The client id names the worker as its results do: the orchestrator matches the workers'
    # group with the workers it hears from (a worker that left stops counting at once).
    transport = KafkaTransport(bootstrap, client_id=worker_client_id(config.worker_id),
                               partitions=partitions, **options)
    worker = ComparisonWorker(
        transport, judges, config,
        metrics=metrics, outcomes=StoredOutcomes(store) if store is not None else None)

    def checks() -> dict[str, str]:
        return {"broker": "ok" if transport.reachable() else "unreachable",
                "consuming": "ok" if worker.consuming else "not yet"}

    health = None
    if metrics_port is not None:
        try:
            health = await HealthServer(checks, metrics.registry, host=health_host,
                                        port=metrics_port).start()
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics and health on port {metrics_port}: {exc}; "
                              "choose another --metrics-port") from exc
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    try:
        await _start_transport(transport, stop, "worker")
        if stop.is_set():
            return 0
        log.info("worker started", bootstrap=bootstrap, concurrency=concurrency,
                 judges=list(allow or ["*"]), metrics_port=metrics_port,
                 checks_store=store is not None)
        return await worker.run(stop)
    finally:
        await transport.close()
        await judges.aclose()
        if health is not None:
            await health.close()
        if store is not None:
            await store.close()
        log.info("worker stopped", judged=worker.judged, replayed=worker.replayed,
                 skipped_stored=worker.skipped_stored)


async def _start_transport(transport: KafkaTransport, stop: asyncio.Event, who: str) -> None:
    """Start ``transport``, waiting for the broker (retrying) until it answers or ``stop``."""
    pause, failures = 1.0, 0
    while not stop.is_set():
        try:
            await transport.start()
            return
        except BusError as exc:
            failures += 1
            if failures == 1 or failures % 20 == 0:
                log.error(f"broker not reachable; the {who} waits for it", error=str(exc),
                          attempts=failures, retry_in_s=pause)
            await _pause(stop, pause)
            pause = min(pause * 2, 15.0)


async def run_orchestrator(
    settings: Settings, bootstrap: str, *, config: OrchestratorConfig | None = None,
    metrics: DistributedMetrics | None = None, stop: asyncio.Event | None = None,
    transport_options: Mapping[str, Any] | None = None, partitions: int = DEFAULT_PARTITIONS,
) -> None:
    """Run the orchestrator alone (without the API) until SIGINT/SIGTERM or ``stop``."""
    from cjgrade.store import open_store

    store = await open_store(settings)
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    try:
        await OrchestratorService(store, bootstrap, config=config, metrics=metrics,
                                  partitions=partitions,
                                  transport_options=transport_options).run(stop)
    finally:
        await store.close()


def attach_orchestrator(
    settings: Settings, *, bootstrap: str | None = None,
    config: OrchestratorConfig | None = None, partitions: int = DEFAULT_PARTITIONS,
    transport_options: Mapping[str, Any] | None = None, stop_timeout_s: float = 20.0,
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    """A lifespan hook for ``create_app`` that runs the orchestrator with the API."""
    servers = bootstrap_servers(bootstrap, settings)

    @contextlib.asynccontextmanager
    async def hook(app: Any) -> AsyncIterator[None]:
        metrics = DistributedMetrics(app.state.metrics_registry)
        service = OrchestratorService(app.state.store, servers, config=config, metrics=metrics,
                                      partitions=partitions, transport_options=transport_options,
                                      stop_timeout_s=stop_timeout_s)
        app.state.readiness_checks.append(service.checks)
        app.state.orchestrator_service = service
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        try:
            yield
        finally:
            stop.set()
            try:
                async with asyncio.timeout(stop_timeout_s + 10):
                    await asyncio.shield(task)
            except TimeoutError:
                pass
            finally:
                task.cancel()  # a no-op once it has stopped
                await asyncio.gather(task, return_exceptions=True)

    return hook
