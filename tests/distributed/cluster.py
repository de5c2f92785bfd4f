"""A small distributed deployment for tests: orchestrator and workers as asyncio tasks, each
with its own Kafka connections, on a real broker and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cjgrade.bus.kafka import KafkaTransport
from cjgrade.distributed import (
    ComparisonWorker,
    Orchestrator,
    OrchestratorConfig,
    WorkerConfig,
    WorkerJudges,
)
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.domain import Essay
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec
from cjgrade.judges import get_judge
from cjgrade.judges.base import Judge, JudgeRequest, Verdict
from cjgrade.judges.sim import text_key
from cjgrade.store import Store

FAST = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 300, "watchdog_interval_s": 0.5}


def essay_text(quality: int) -> str:
    return f"Essay number {quality}. " + "Phones in school are a question of focus. " * 3


def make_spec(n_students: int = 10, *, budget: int = 40, round_size: int = 10,
              **options: Any) -> tuple[BatchSpec, dict[str, float]]:
    """Students and two anchors with known abilities for the sim judge."""
    essays = [Essay(id=f"s{i:02d}", text=essay_text(i), label=f"s{i:02d}.txt")
              for i in range(n_students)]
    essays += [Essay(id="anchor:E", text=essay_text(100), is_anchor=True, grade="E"),
               Essay(id="anchor:A", text=essay_text(101), is_anchor=True, grade="A")]
    abilities = {text_key(e.text): (i - n_students / 2) / 3 for i, e in enumerate(essays)}
    defaults: dict[str, Any] = {"budget": budget, "round_size": round_size,
                                "target_reliability": None, "stability_threshold": None}
    defaults.update(options)
    spec = BatchSpec(
        essays=tuple(essays), instructions="Pick the better essay.", judge="sim/bt",
        grade_scale="swedish_8_anchor", label="distributed test", grades_requested=False,
        options=BatchOptions(**defaults),
    )
    return spec, abilities


class CountingJudge:
    """Counts the calls of the judge it wraps (the property under test: no double judging)."""

    def __init__(self, inner: Judge, calls: list[JudgeRequest]) -> None:
        self.inner = inner
        self.calls = calls

    @property
    def name(self) -> str:
        return self.inner.name

    async def judge(self, request: JudgeRequest) -> Verdict:
        self.calls.append(request)
        return await self.inner.judge(request)


@dataclass
class Cluster:
    bootstrap: str
    store: Store
    abilities: dict[str, float]
    latency_s: float = 0.02
    redispatch_after_s: float = 3.0
    judge_factory: Callable[[str], Judge] | None = None
    calls: list[JudgeRequest] = field(default_factory=list)
    transports: list[KafkaTransport] = field(default_factory=list)
    orchestrator: Orchestrator | None = None
    orchestrator_task: asyncio.Task[None] | None = None
    workers: list[tuple[ComparisonWorker, asyncio.Task[int]]] = field(default_factory=list)
    metrics: DistributedMetrics = field(default_factory=DistributedMetrics)

    async def transport(self) -> KafkaTransport:
        t = await KafkaTransport(self.bootstrap, **FAST).start()  # type: ignore[arg-type]
        self.transports.append(t)
        return t

    def _judge(self, name: str) -> Judge:
        if self.judge_factory is not None:
            return CountingJudge(self.judge_factory(name), self.calls)
        inner = get_judge(name, options={"abilities": self.abilities, "seed": 7,
                                         "latency_s": self.latency_s},
                          policy_overrides={"max_concurrency": 64})
        return CountingJudge(inner, self.calls)

    async def start_orchestrator(self) -> Orchestrator:
        transport = await self.transport()
        self.orchestrator = Orchestrator(
            self.store, transport,
            OrchestratorConfig(redispatch_after_s=self.redispatch_after_s, resume_interval_s=2.0,
                               relay_poll_s=0.2),
            metrics=self.metrics,
        )
        self.orchestrator_task = asyncio.ensure_future(self.orchestrator.run())
        return self.orchestrator

    async def kill_orchestrator(self) -> None:
        assert self.orchestrator_task is not None
        self.orchestrator_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.orchestrator_task

    async def start_worker(self, concurrency: int = 8) -> ComparisonWorker:
        transport = await self.transport()
        worker = ComparisonWorker(
            transport, WorkerJudges(factory=self._judge, concurrency=concurrency),
            WorkerConfig(concurrency=concurrency), metrics=self.metrics,
        )
        self.workers.append((worker, asyncio.ensure_future(worker.run())))
        return worker

    async def close(self) -> None:
        tasks: list[asyncio.Task[Any]] = [t for _, t in self.workers]
        if self.orchestrator_task is not None:
            tasks.append(self.orchestrator_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for t in self.transports:
            with contextlib.suppress(Exception):
                await t.close()
