"""The dispatcher protocol: how the engine gets comparisons judged.

The engine hands a dispatcher a round of :class:`ComparisonTask` values and receives one
:class:`ComparisonOutcome` per task, in completion order, persisting each as it arrives. Where
the judging happens is the dispatcher's business:

* :class:`InProcessDispatcher` calls a :class:`~cjgrade.judges.base.Judge` in this process with
  a concurrency limit (embedded mode);
* :class:`BusDispatcher` publishes ``comparison.requested`` events on a transport and collects
  ``comparison.completed`` events that remote workers (:func:`serve_comparisons`) publish.

Outcomes are keyed by ``comparison_id``; the engine stores an outcome only for a pending
comparison, so a duplicate delivery is harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cjgrade.bus.events import (
    ComparisonCompletedV1,
    ComparisonRequestedV1,
    JudgeRequestData,
    make_envelope,
)
from cjgrade.bus.transport import Transport
from cjgrade.errors import BusError, JudgeError
from cjgrade.judges.base import Judge, JudgeRequest, JudgeSettings, Usage, Verdict, Winner
from cjgrade.judges.cost import BilledSpend, billed_spend

__all__ = [
    "COMPARISON_COMPLETED",
    "COMPARISON_REQUESTED",
    "BusDispatcher",
    "ComparisonOutcome",
    "ComparisonTask",
    "Dispatcher",
    "InProcessDispatcher",
    "failure_outcome",
    "serve_comparisons",
]

COMPARISON_REQUESTED = "cjgrade.comparison.requested.v1"
COMPARISON_COMPLETED = "cjgrade.comparison.completed.v1"
WORKER_GROUP = "cjgrade-workers"
"""Consumer group of the comparison workers: each request goes to one of them."""


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


# --- over a transport (remote workers) --------------------------------------------------


def _request_data(request: JudgeRequest) -> JudgeRequestData:
    s = request.settings
    return JudgeRequestData(
        system_prompt=request.system_prompt,
        student_prompt=request.student_prompt,
        instructions=request.instructions,
        rubric=request.rubric,
        essay_a=request.essay_a,
        essay_b=request.essay_b,
        temperature=s.temperature,
        max_tokens=s.max_tokens,
        reasoning_effort=s.reasoning_effort,
    )


def _judge_request(data: JudgeRequestData) -> JudgeRequest:
    return JudgeRequest(
        system_prompt=data.system_prompt,
        student_prompt=data.student_prompt,
        instructions=data.instructions,
        rubric=data.rubric,
        essay_a=data.essay_a,
        essay_b=data.essay_b,
        settings=JudgeSettings(
            temperature=data.temperature,
            max_tokens=data.max_tokens,
            reasoning_effort=data.reasoning_effort,
        ),
    )


def completed_event(batch_uuid: str, outcome: ComparisonOutcome) -> ComparisonCompletedV1:
    """The ``comparison.completed`` event of an outcome."""
    v = outcome.verdict
    if v is None:
        spend = outcome.billed or BilledSpend()
        return ComparisonCompletedV1(
            batch_uuid=batch_uuid, comparison_id=outcome.comparison_id, status="failed",
            error_code=outcome.error_code, error_reason=outcome.error_reason,
            attempts=outcome.attempts, input_tokens=spend.usage.input_tokens,
            output_tokens=spend.usage.output_tokens,
            cache_read_tokens=spend.usage.cache_read_tokens,
            cache_write_tokens=spend.usage.cache_write_tokens, cost_usd=spend.cost_usd,
        )
    return ComparisonCompletedV1(
        batch_uuid=batch_uuid, comparison_id=outcome.comparison_id, status="succeeded",
        request_sha256=v.request_sha256, winner=v.winner.value, p_a=v.p_a,
        confidence=v.confidence, justification=v.justification, provider=v.provider,
        model=v.model, input_tokens=v.usage.input_tokens, output_tokens=v.usage.output_tokens,
        cache_read_tokens=v.usage.cache_read_tokens,
        cache_write_tokens=v.usage.cache_write_tokens, cost_usd=v.cost_usd,
        latency_s=v.latency_s, flags=list(v.flags), raw_response=v.raw_response,
        attempts=outcome.attempts,
    )


def outcome_from_event(event: ComparisonCompletedV1) -> ComparisonOutcome:
    """Rebuild an outcome from a ``comparison.completed`` event."""
    if event.status == "failed" or event.winner is None or event.p_a is None:
        return ComparisonOutcome(
            comparison_id=event.comparison_id,
            error_code=event.error_code or "UnknownFailure",
            error_reason=event.error_reason or "the worker reported a failure without a reason",
            attempts=event.attempts,
            billed=BilledSpend(
                usage=Usage(event.input_tokens, event.output_tokens, event.cache_read_tokens,
                            event.cache_write_tokens),
                cost_usd=event.cost_usd, attempts=event.attempts,
            ),
        )
    verdict = Verdict(
        winner=Winner(event.winner), p_a=event.p_a, justification=event.justification or "",
        provider=event.provider or "", model=event.model or "",
        request_sha256=event.request_sha256 or "",
        usage=Usage(event.input_tokens, event.output_tokens, event.cache_read_tokens,
                    event.cache_write_tokens),
        confidence=event.confidence, cost_usd=event.cost_usd, latency_s=event.latency_s,
        raw_response=event.raw_response, flags=tuple(event.flags), attempts=event.attempts,
    )
    return ComparisonOutcome(
        comparison_id=event.comparison_id, verdict=verdict, attempts=event.attempts
    )


class BusDispatcher:
    """Publishes tasks as ``comparison.requested`` events and yields the outcomes that
    workers publish as ``comparison.completed`` events, ignoring duplicates and other batches.
    """

    def __init__(self, transport: Transport, *, timeout_s: float | None = None) -> None:
        self.transport = transport
        self.timeout_s = timeout_s

    def request_sha256(self, request: JudgeRequest) -> str | None:
        return None  # the worker's judge computes it; its verdict carries it

    async def dispatch(self, tasks: Sequence[ComparisonTask]) -> AsyncIterator[ComparisonOutcome]:
        if not tasks:
            return
        batch_uuid = tasks[0].batch_uuid
        waiting = {t.comparison_id for t in tasks}
        results = self.transport.subscribe(COMPARISON_COMPLETED)
        try:
            for task in tasks:
                event = ComparisonRequestedV1(
                    batch_uuid=task.batch_uuid, comparison_id=task.comparison_id,
                    round=task.round, slot=task.slot, judge=task.judge,
                    request=_request_data(task.request),
                )
                await self.transport.publish(COMPARISON_REQUESTED, make_envelope(event))
            iterator = results.__aiter__()
            while waiting:
                try:
                    envelope = await asyncio.wait_for(iterator.__anext__(), self.timeout_s)
                except StopAsyncIteration as exc:
                    raise BusError("the transport closed while comparisons were pending") from exc
                except TimeoutError as exc:
                    raise BusError(
                        f"{len(waiting)} comparison(s) unanswered after {self.timeout_s} s; "
                        "are workers running? resume the batch once they are"
                    ) from exc
                result = envelope.event()
                if not isinstance(result, ComparisonCompletedV1):
                    continue
                if result.batch_uuid != batch_uuid or result.comparison_id not in waiting:
                    continue  # another batch's result, or a duplicate delivery
                waiting.discard(result.comparison_id)
                yield outcome_from_event(result)
        finally:
            await results.close()


async def serve_comparisons(
    transport: Transport, judge: Judge, *, concurrency: int = 8,
    stop: asyncio.Event | None = None,
) -> int:
    """A worker loop: judge every ``comparison.requested`` event and publish the outcome.

    Returns the number of comparisons served when the subscription ends or ``stop`` is set.
    """
    requests = transport.subscribe(COMPARISON_REQUESTED, group=WORKER_GROUP)
    semaphore = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()
    served = 0

    async def serve(event: ComparisonRequestedV1) -> None:
        nonlocal served
        async with semaphore:
            task = ComparisonTask(
                comparison_id=event.comparison_id, batch_uuid=event.batch_uuid,
                round=event.round, slot=event.slot, essay_a="", essay_b="", judge=event.judge,
                request=_judge_request(event.request),
            )
            outcome = await judge_task(judge, task)
            await transport.publish(
                COMPARISON_COMPLETED, make_envelope(completed_event(event.batch_uuid, outcome))
            )
            served += 1

    async def consume() -> None:
        async for envelope in requests:
            request = envelope.event()
            if isinstance(request, ComparisonRequestedV1):
                job = asyncio.ensure_future(serve(request))
                running.add(job)
                job.add_done_callback(running.discard)

    consumer = asyncio.ensure_future(consume())
    try:
        if stop is None:
            await consumer
        else:
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
    finally:
        consumer.cancel()
        await requests.close()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    return served
