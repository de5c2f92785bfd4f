"""Embedded mode: one process, SQLite (or any store URL), the in-process dispatcher and bus.

The order is fixed so that nothing is spent or written for a batch that cannot run: the spec
is validated and the judge is built (a missing key or unknown model fails here) before the
database is opened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cjgrade.bus.transport import InProcessTransport
from cjgrade.config import Settings
from cjgrade.engine.dispatch import (
    ComparisonOutcome,
    ComparisonTask,
    Dispatcher,
    InProcessDispatcher,
    rendered_sha256,
)
from cjgrade.engine.loop import TERMINAL, BatchEngine
from cjgrade.engine.progress import ProgressListener
from cjgrade.engine.results import BatchResult
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.errors import StorageError
from cjgrade.judges.base import Judge, JudgeRequest, ResponseCache
from cjgrade.scales import GradeScale
from cjgrade.store import DbResponseCache, open_store

__all__ = ["EmbeddedRun", "JudgeBuilder", "resume_embedded", "run_embedded"]

JudgeBuilder = Callable[[str, str | None, ResponseCache | None], Judge]
"""``(judge name, base_url, response cache) -> Judge``; raises ConfigError for an unusable
judge (unknown model, missing key or SDK). The cache is the database's, so a verdict paid for
before a crash is not paid again."""


@dataclass(frozen=True)
class EmbeddedRun:
    result: BatchResult
    inputs: dict[str, Any]
    database: str
    """The database URL with any password hidden."""
    events: tuple[str, ...]
    """Topics of the events published on the in-process bus, in order."""


async def run_embedded(
    spec: BatchSpec,
    *,
    build_judge: JudgeBuilder,
    target: Settings | str | None,
    progress: ProgressListener | None = None,
    on_created: Callable[[str], None] | None = None,
) -> EmbeddedRun:
    """Validate, create and run a batch to its end."""
    validate_spec(spec)
    build_judge(spec.judge, spec.base_url, None)  # fails here, before anything is written
    store = await open_store(target, user_scales=_known_scales(target, spec.user_scales))
    transport = InProcessTransport()
    try:
        judge = build_judge(spec.judge, spec.base_url, DbResponseCache(store))
        engine = BatchEngine(
            store, InProcessDispatcher(judge, concurrency=spec.options.concurrency),
            transport=transport, progress=progress,
        )
        batch_uuid = await engine.create(spec)
        if on_created is not None:
            on_created(batch_uuid)
        result = await engine.run(batch_uuid)
    finally:
        await transport.close()
        await store.close()
    return EmbeddedRun(result, spec.inputs, store.display_url,
                       tuple(topic for topic, _ in transport.published))


async def resume_embedded(
    batch_uuid: str,
    *,
    build_judge: JudgeBuilder,
    target: Settings | str | None,
    progress: ProgressListener | None = None,
    base_url: str | None = None,
) -> EmbeddedRun:
    """Continue a batch whose process died (or re-render a finished one): stored verdicts are
    reused and nothing stored is asked again."""
    store = await open_store(target)
    transport = InProcessTransport()
    try:
        from cjgrade.engine.ledger import BatchLedger

        stored = await BatchLedger(store).load_batch(batch_uuid)
        spec = stored.spec
        dispatcher: Dispatcher = _FinishedBatch()
        if stored.status not in TERMINAL:
            judge = build_judge(spec.judge, base_url or spec.base_url, DbResponseCache(store))
            dispatcher = InProcessDispatcher(judge, concurrency=spec.options.concurrency)
        engine = BatchEngine(store, dispatcher, transport=transport, progress=progress)
        result = await engine.run(batch_uuid)
    finally:
        await transport.close()
        await store.close()
    return EmbeddedRun(result, spec.inputs, store.display_url,
                       tuple(topic for topic, _ in transport.published))


def _known_scales(
    target: Settings | str | None, spec_scales: Sequence[GradeScale]
) -> tuple[GradeScale, ...]:
    """The batch's user scales plus the settings' (``CJGRADE_SCALES_FILE``), the batch's
    winning a clash of ids."""
    settings = target.load_user_scales() if isinstance(target, Settings) else ()
    ids = {s.scale_id for s in spec_scales}
    return (*spec_scales, *(s for s in settings if s.scale_id not in ids))


class _FinishedBatch:
    """The dispatcher of a batch that is already finished: judging anything is a bug."""

    async def dispatch(self, tasks: Sequence[ComparisonTask]) -> AsyncIterator[ComparisonOutcome]:
        raise StorageError("a finished batch asked for comparisons; its stored state is corrupt")
        yield  # pragma: no cover - makes this an async generator

    def request_sha256(self, request: JudgeRequest) -> str:
        return rendered_sha256(request)
