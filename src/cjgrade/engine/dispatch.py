"""The dispatcher protocol: how the engine gets comparisons judged.

The engine hands a dispatcher a round of :class:`ComparisonTask` values and receives one
:class:`ComparisonOutcome` per task, in completion order, persisting each as it arrives. Where
the judging happens is the dispatcher's business:

* :class:`InProcessDispatcher` calls a :class:`~cjgrade.judges.base.Judge` in this process with
  a concurrency limit (embedded mode);
* :class:`cjgrade.distributed.DurableBusDispatcher` publishes ``comparison.requested`` events
  on a transport and collects the ``comparison.completed`` events that remote workers
  (:class:`cjgrade.distributed.ComparisonWorker`) publish.

Outcomes are keyed by ``comparison_id``; the engine stores an outcome only for a pending
comparison, so a duplicate delivery is harmless. A :class:`PipelinedDispatcher` also takes the
next round's early part while a round ends (two ``dispatch`` streams of one batch at once).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cjgrade.errors import JudgeError
from cjgrade.judges.base import Judge, JudgeRequest, Verdict
from cjgrade.judges.cost import BilledSpend, billed_spend, spend_of

__all__ = [
    "ComparisonOutcome",
    "ComparisonTask",
    "Dispatcher",
    "InProcessDispatcher",
    "PipelinedDispatcher",
    "failure_outcome",
    "judge_task",
]


@dataclass(frozen=True)
class ComparisonTask:
    """One stored, pending comparison to judge (essay ids stay here, never in the request)."""

    comparison_id: int
    batch_uuid: str
    round: int
    slot: int
    essay_a: str
    essay_b: str
    judge: str
    request: JudgeRequest


@dataclass(frozen=True)
class ComparisonOutcome:
    """A verdict, or a failure with a stable ``error_code`` and a human ``error_reason``."""

    comparison_id: int
    verdict: Verdict | None = None
    error_code: str | None = None
    error_reason: str | None = None
    attempts: int = 1
    """Requests sent to the provider for this comparison, retries included (the verdict's
    ``attempts``, or the runtime's count on the error); 0 for a response-cache hit or when an
    open circuit refused every call."""
    started_at: float | None = None
    completed_at: float | None = None
    billed: BilledSpend | None = None
    """For a failure: what the provider billed for invalid replies across the attempts (tokens,
    cost; None cost when a price is unknown), so run totals show the real spend."""

    @property
    def succeeded(self) -> bool:
        return self.verdict is not None

    @property
    def spend_usd(self) -> float | None:
        """What this outcome cost, by the one unknown-cost rule (:func:`spend_of`): the
        verdict's cost, what the failure was billed (0 when nothing), None when unknown."""
        if self.verdict is not None:
            return spend_of(self.verdict.cost_usd, billed=True)
        spend = self.billed
        return spend_of(spend.cost_usd if spend is not None else None, billed=spend is not None)


@runtime_checkable
class Dispatcher(Protocol):
    """Judge a round of tasks and yield one outcome per task as each completes.

    A :class:`~cjgrade.errors.JudgeError` becomes a failed outcome; any other exception (a bug,
    a crash) propagates and stops the batch, which can then be resumed."""

    def dispatch(self, tasks: Sequence[ComparisonTask]) -> AsyncIterator[ComparisonOutcome]: ...

    def request_sha256(self, request: JudgeRequest) -> str | None:
        """The hash the judge will report for ``request``, recorded when the comparison is
        requested so a stale verdict is refused; None when only the worker knows it."""
        ...


@runtime_checkable
class PipelinedDispatcher(Dispatcher, Protocol):
    """A dispatcher that can judge two rounds' tasks at once (two ``dispatch`` streams of one
    batch) and knows how many judge calls it has in flight at most: the engine then pipelines
    rounds, dispatching an early part of the next round while the current one ends
    (:mod:`cjgrade.engine.loop`)."""

    def capacity(self) -> int | None:
        """Judge calls in flight at most (the workers' concurrency); None while unknown (no
        pipelining then)."""
        ...


def rendered_sha256(request: JudgeRequest) -> str:
    """SHA-256 of the prompt an LLM adapter renders for ``request``."""
    from cjgrade.judges.prompt import render_request

    return render_request(request).request_sha256


def _failure(task: ComparisonTask, exc: JudgeError, started: float) -> ComparisonOutcome:
    return failure_outcome(task, exc, started)


def failure_outcome(task: ComparisonTask, exc: JudgeError, started: float) -> ComparisonOutcome:
    """The failed outcome of ``task``: the error's class and message, the requests made and
    what the provider billed for it (:func:`~cjgrade.judges.cost.billed_spend`). An error that
    did not pass through a runtime counts as one request."""
    spend = billed_spend(exc)
    attempts = spend.attempts if exc.billed is not None else 1
    return ComparisonOutcome(
        comparison_id=task.comparison_id,
        error_code=type(exc).__name__,
        error_reason=str(exc) or type(exc).__name__,
        attempts=attempts,
        started_at=started,
        completed_at=time.time(),
        billed=spend,
    )


async def judge_task(judge: Judge, task: ComparisonTask) -> ComparisonOutcome:
    """Call the judge for one task; a JudgeError is a failed outcome, never a default winner."""
    started = time.time()
    try:
        verdict = await judge.judge(task.request)
    except JudgeError as exc:
        return _failure(task, exc, started)
    return ComparisonOutcome(
        comparison_id=task.comparison_id, verdict=verdict, attempts=verdict.attempts,
        started_at=started, completed_at=time.time(),
    )


class InProcessDispatcher:
    """Calls a judge in this process, at most ``concurrency`` calls in flight."""

    def __init__(self, judge: Judge, *, concurrency: int = 8) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.judge = judge
        self.concurrency = concurrency

    def request_sha256(self, request: JudgeRequest) -> str:
        own = getattr(self.judge, "request_sha256", None)
        return str(own(request)) if callable(own) else rendered_sha256(request)

    async def dispatch(self, tasks: Sequence[ComparisonTask]) -> AsyncIterator[ComparisonOutcome]:
        # A pool of workers pulling from a queue: at most ``concurrency`` calls in flight, and
        # after a crash no new call starts (calls in flight then are simply not stored, and a
        # resumed batch asks them again).
        todo = deque(tasks)
        results: asyncio.Queue[ComparisonOutcome | BaseException] = asyncio.Queue()
        stop = asyncio.Event()

        async def worker() -> None:
            while todo and not stop.is_set():
                task = todo.popleft()
                try:
                    outcome = await judge_task(self.judge, task)
                except BaseException as exc:  # a crash, not a judge failure: stop the round
                    stop.set()
                    results.put_nowait(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    return
                results.put_nowait(outcome)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency,
                                                                       len(tasks)))]
        try:
            for _ in range(len(tasks)):
                item = await results.get()
                if isinstance(item, BaseException):
                    while not results.empty():  # outcomes that arrived before the crash
                        other = results.get_nowait()
                        if isinstance(other, ComparisonOutcome):
                            yield other
                    raise item
                yield item
        finally:
            stop.set()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
