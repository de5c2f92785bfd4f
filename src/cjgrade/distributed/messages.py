"""The mapping between the engine's comparison values and the bus events that carry them.

The orchestrator turns a :class:`~cjgrade.engine.dispatch.ComparisonTask` into a
``comparison.requested`` event (:func:`request_event`); a worker rebuilds the judge request
(:func:`judge_request`) and publishes its :class:`~cjgrade.engine.dispatch.ComparisonOutcome`
as ``comparison.completed`` (:func:`completed_event`); the orchestrator rebuilds the outcome
(:func:`outcome_from_event`). The request never carries essay ids, only texts.
"""

from __future__ import annotations

from cjgrade.bus.events import ComparisonCompletedV1, ComparisonRequestedV1, JudgeRequestData
from cjgrade.engine.dispatch import ComparisonOutcome, ComparisonTask
from cjgrade.judges.base import JudgeRequest, JudgeSettings, Usage, Verdict, Winner
from cjgrade.judges.cost import BilledSpend

__all__ = [
    "completed_event",
    "judge_request",
    "outcome_from_event",
    "request_data",
    "request_event",
    "task_from_event",
]


def request_data(request: JudgeRequest) -> JudgeRequestData:
    """The texts and settings of a judge request, as event data."""
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
        output_verbosity=s.output_verbosity,
    )


def judge_request(data: JudgeRequestData) -> JudgeRequest:
    """The judge request carried by a ``comparison.requested`` event."""
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
            output_verbosity=data.output_verbosity,
        ),
    )


def request_event(task: ComparisonTask, *, base_url: str | None = None) -> ComparisonRequestedV1:
    """The ``comparison.requested`` event of a task (``base_url``: the batch's server)."""
    return ComparisonRequestedV1(
        batch_uuid=task.batch_uuid, comparison_id=task.comparison_id, round=task.round,
        slot=task.slot, judge=task.judge, request=request_data(task.request), base_url=base_url,
    )


def task_from_event(event: ComparisonRequestedV1) -> ComparisonTask:
    """The task a worker judges (essay ids are not on the bus: empty here)."""
    return ComparisonTask(
        comparison_id=event.comparison_id, batch_uuid=event.batch_uuid, round=event.round,
        slot=event.slot, essay_a="", essay_b="", judge=event.judge,
        request=judge_request(event.request),
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
    usage = Usage(event.input_tokens, event.output_tokens, event.cache_read_tokens,
                  event.cache_write_tokens)
    if event.status == "failed" or event.winner is None or event.p_a is None:
        return ComparisonOutcome(
            comparison_id=event.comparison_id,
            error_code=event.error_code or "UnknownFailure",
            error_reason=event.error_reason or "the worker reported a failure without a reason",
            attempts=event.attempts,
            billed=BilledSpend(usage=usage, cost_usd=event.cost_usd, attempts=event.attempts),
        )
    verdict = Verdict(
        winner=Winner(event.winner), p_a=event.p_a, justification=event.justification or "",
        provider=event.provider or "", model=event.model or "",
        request_sha256=event.request_sha256 or "", usage=usage,
        confidence=event.confidence, cost_usd=event.cost_usd, latency_s=event.latency_s,
        raw_response=event.raw_response, flags=tuple(event.flags), attempts=event.attempts,
    )
    return ComparisonOutcome(
        comparison_id=event.comparison_id, verdict=verdict, attempts=event.attempts
    )
