"""Process entry points: the worker service, the orchestrator service, and the hook that makes
``cjgrade serve`` run the orchestrator next to the API.

``attach_orchestrator(settings)`` returns a lifespan hook for
:func:`cjgrade.api.create_app` (``lifespan_hooks=[attach_orchestrator(settings)]``): it starts
the orchestrator on the app's store and Kafka (``KAFKA_BOOTSTRAP_SERVERS``), registers its
metrics on the app's registry (served at ``/metrics``) and stops it with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog

from cjgrade.bus.kafka import KafkaTransport
from cjgrade.config import Settings
from cjgrade.distributed.judges import WorkerJudges
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.distributed.orchestrator import Orchestrator, OrchestratorConfig
from cjgrade.distributed.worker import ComparisonWorker, WorkerConfig
from cjgrade.errors import ConfigError

__all__ = ["attach_orchestrator", "bootstrap_servers", "run_orchestrator", "run_worker"]

log = structlog.get_logger("cjgrade.service")


def bootstrap_servers(flag: str | None, settings: Settings | None) -> str:
    """``--bootstrap`` > ``KAFKA_BOOTSTRAP_SERVERS`` / config; ConfigError when neither."""
    value = flag or (settings.kafka_bootstrap_servers if settings is not None else None)
    if not value:
        raise ConfigError(
            "no Kafka broker given: pass --bootstrap HOST:PORT or set KAFKA_BOOTSTRAP_SERVERS"
        )
    return value


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_worker(
    bootstrap: str, *, concurrency: int = 8, allow: Sequence[str] | None = None,
    judge_options: Mapping[str, Mapping[str, Any]] | None = None,
    metrics_port: int | None = None, partitions: int = 8,
    transport_options: Mapping[str, Any] | None = None,
) -> int:
    """Run one worker until SIGINT/SIGTERM; returns the judge calls made."""
    metrics = DistributedMetrics()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            start_http_server(metrics_port, registry=metrics.registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on port {metrics_port}: {exc}; choose "
                              "another --metrics-port") from exc
    judges = WorkerJudges(allow=allow, options=judge_options, concurrency=concurrency)
    transport = await KafkaTransport(bootstrap, client_id="cjgrade-worker",
                                     partitions=partitions,
                                     **dict(transport_options or {})).start()
    stop = asyncio.Event()
    _stop_on_signals(stop)
    worker = ComparisonWorker(transport, judges, WorkerConfig(concurrency=concurrency),
                              metrics=metrics)
    log.info("worker started", bootstrap=bootstrap, concurrency=concurrency,
             judges=list(allow or ["*"]), metrics_port=metrics_port)
    try:
        return await worker.run(stop)
    finally:
        await transport.close()
        await judges.aclose()
        log.info("worker stopped", judged=worker.judged, replayed=worker.replayed)


async def run_orchestrator(
    settings: Settings, bootstrap: str, *, config: OrchestratorConfig | None = None,
    metrics: DistributedMetrics | None = None, stop: asyncio.Event | None = None,
    transport_options: Mapping[str, Any] | None = None,
) -> None:
    """Run the orchestrator alone (without the API) until SIGINT/SIGTERM or ``stop``."""
    from cjgrade.store import open_store

    store = await open_store(settings)
    transport = await KafkaTransport(bootstrap, client_id="cjgrade-orchestrator",
                                     **dict(transport_options or {})).start()
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    try:
        await Orchestrator(store, transport, config, metrics=metrics).run(stop)
    finally:
        await transport.close()
        await store.close()


def attach_orchestrator(
    settings: Settings, *, bootstrap: str | None = None,
    config: OrchestratorConfig | None = None,
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    """A lifespan hook for ``create_app`` that runs the orchestrator with the API."""
    servers = bootstrap_servers(bootstrap, settings)

    @contextlib.asynccontextmanager
    async def hook(app: Any) -> AsyncIterator[None]:
        registry = getattr(app.state, "metrics_registry", None)
        metrics = DistributedMetrics(registry)
        stop = asyncio.Event()
        task = asyncio.ensure_future(run_orchestrator(settings, servers, config=config,
                                                      metrics=metrics, stop=stop))
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, 30)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()

    return hook
