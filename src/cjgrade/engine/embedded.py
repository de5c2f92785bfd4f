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
from cjgrade.engine.batch_api import BatchApiDispatcher
from cjgrade.engine.dispatch import (
    ComparisonOutcome,
    ComparisonTask,
    Dispatcher,
    InProcessDispatcher,
    rendered_sha256,
)
from cjgrade.engine.ledger import BatchLedger
from cjgrade.engine.loop import TERMINAL, BatchEngine
from cjgrade.engine.progress import ProgressListener
from cjgrade.engine.results import BatchResult
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.errors import StorageError
from cjgrade.judges.base import Judge, JudgeRequest, ResponseCache
from cjgrade.judges.batch import BatchJudge
from cjgrade.scales import GradeScale
from cjgrade.store import DbResponseCache, Store, open_store

__all__ = ["BatchJudgeBuilder", "EmbeddedRun", "JudgeBuilder", "default_batch_judge",
           "resume_embedded", "run_embedded"]

BatchJudgeBuilder = Callable[[str, str | None], BatchJudge]
"""``(judge name, base_url) -> provider batch judge`` for ``batch_api`` runs; raises
ConfigError (no batch API for the provider or model, a compatible server, a missing key)."""

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
    build_batch_judge: BatchJudgeBuilder | None = None,
    batch_uuid: str | None = None,
) -> EmbeddedRun:
    """Validate, create and run a batch to its end (as ``batch_uuid`` when given)."""
    validate_spec(spec)
    if spec.options.batch_api:  # fails here, before anything is written
        (build_batch_judge or default_batch_judge)(spec.judge, spec.base_url)
    else:
        build_judge(spec.judge, spec.base_url, None)
    store = await open_store(target, user_scales=_known_scales(target, spec.user_scales))
    transport = InProcessTransport()
    try:
        dispatcher = _dispatcher(spec, spec.base_url, store, build_judge, build_batch_judge)
        engine = BatchEngine(store, dispatcher, transport=transport, progress=progress)
        batch_uuid = await engine.create(spec, batch_uuid)
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
    build_batch_judge: BatchJudgeBuilder | None = None,
    on_created: Callable[[str], None] | None = None,
) -> EmbeddedRun:
    """Continue a batch whose process died (or re-render a finished one): stored verdicts are
    reused and nothing stored is asked again. ``on_created`` is called once the batch is
    loaded (an unknown uuid raises before it)."""
    store = await open_store(target)
    transport = InProcessTransport()
    try:
        stored = await BatchLedger(store).load_batch(batch_uuid)
        spec = stored.spec
        if on_created is not None:
            on_created(batch_uuid)
        dispatcher: Dispatcher = _FinishedBatch()
        if stored.status not in TERMINAL:
            dispatcher = _dispatcher(spec, base_url or spec.base_url, store, build_judge,
                                     build_batch_judge)
        engine = BatchEngine(store, dispatcher, transport=transport, progress=progress)
        result = await engine.run(batch_uuid)
    finally:
        await transport.close()
        await store.close()
    return EmbeddedRun(result, spec.inputs, store.display_url,
                       tuple(topic for topic, _ in transport.published))


def _dispatcher(
    spec: BatchSpec, base_url: str | None, store: Store, build_judge: JudgeBuilder,
    build_batch_judge: BatchJudgeBuilder | None,
) -> Dispatcher:
    """The in-process dispatcher, or the provider-batch one for a ``batch_api`` batch."""
    if spec.options.batch_api:
        build = build_batch_judge or default_batch_judge
        return BatchApiDispatcher(build(spec.judge, base_url), BatchLedger(store),
                                  poll_interval=spec.options.poll_interval_s)
    judge = build_judge(spec.judge, base_url, DbResponseCache(store))
    return InProcessDispatcher(judge, concurrency=spec.options.concurrency)


def default_batch_judge(name: str, base_url: str | None) -> BatchJudge:
    """:func:`cjgrade.judges.get_batch_judge` (refuses a compatible server's ``base_url``)."""
    from cjgrade.judges import get_batch_judge

    judge: BatchJudge = get_batch_judge(name, base_url=base_url)
    return judge


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
