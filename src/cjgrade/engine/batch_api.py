"""Provider batch APIs as a dispatcher: a round is one provider batch (`cjgrade run --batch-api`).

Anthropic Message Batches and the OpenAI Batch API judge at half price within 24 hours. The
:class:`BatchApiDispatcher` submits a round's pending comparisons as one batch
(``custom_id = c<comparison id>``), records the batch handle on those comparisons *before*
waiting, polls until the provider is done, and yields one outcome per comparison: a verdict, or
a failure with the provider's error (partial results: the rest of the round stands).

Crash safety: the handle is stored on the round's pending comparisons (their ``error_code`` is
``provider_batch``, their ``raw_response`` the handle's JSON; they stay pending, and a verdict
or a final failure replaces both). A resumed batch finds the handle and re-attaches to the
provider batch instead of submitting the comparisons again; a comparison that has no handle
(the process died before the handle was stored) is submitted again. When polling gives up
(``max_wait``), :class:`~cjgrade.errors.JudgeUnavailable` stops the run with the batch still
pending: ``cjgrade resume BATCH_UUID`` picks it up later.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence

from cjgrade.engine.dispatch import (
    ComparisonOutcome,
    ComparisonTask,
    failure_outcome,
    rendered_sha256,
)
from cjgrade.engine.ledger import BatchLedger
from cjgrade.errors import JudgeError
from cjgrade.judges.base import JudgeRequest, Verdict
from cjgrade.judges.batch import BatchHandle, BatchJudge, BatchStatus, wait_for_batch
from cjgrade.judges.clock import Clock
from cjgrade.judges.runtime import RuntimePolicy
from cjgrade.store.records import PendingNote

__all__ = ["HANDLE_CODE", "BatchApiDispatcher", "custom_id"]

HANDLE_CODE = "provider_batch"
"""``error_code`` of a pending comparison waiting in a provider batch (its handle is stored)."""


def custom_id(comparison_id: int) -> str:
    """The provider batch's id of a comparison."""
    return f"c{comparison_id}"


class BatchApiDispatcher:
    """Judges each round as one provider batch; re-attaches to a stored batch on resume.

    Parameters
    ----------
    judge : a provider batch judge (:func:`cjgrade.judges.get_batch_judge`).
    ledger : the engine's ledger (the handles are stored through it).
    poll_interval : seconds between polls.
    max_wait : give up polling after this many seconds (None: wait until the provider is done;
        providers finish within 24 hours).
    clock : the time polling waits through (a ``ManualClock`` in tests).
    policy : the retry policy of a poll that fails transiently (default: the runtime's).
    on_status : a status callback (progress).
    """

    def __init__(
        self,
        judge: BatchJudge,
        ledger: BatchLedger,
        *,
        poll_interval: float = 60.0,
        max_wait: float | None = None,
        clock: Clock | None = None,
        policy: RuntimePolicy | None = None,
        on_status: Callable[[BatchStatus], None] | None = None,
    ) -> None:
        self.judge = judge
        self.ledger = ledger
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.clock = clock
        self.policy = policy
        self.on_status = on_status
        self.submitted = 0
        """Provider batches this dispatcher submitted (re-attached ones excluded)."""

    def request_sha256(self, request: JudgeRequest) -> str:
        return rendered_sha256(request)

    async def dispatch(self, tasks: Sequence[ComparisonTask]) -> AsyncIterator[ComparisonOutcome]:
        if not tasks:
            return
        by_handle = await self._stored_handles(tasks)
        attached = {cid for handle in by_handle for cid in _ids(handle)}
        fresh = [t for t in tasks if custom_id(t.comparison_id) not in attached]
        if fresh:
            handle = await self.judge.submit_batch({custom_id(t.comparison_id): t.request
                                                    for t in fresh})
            self.submitted += 1
            await self.ledger.note_pending(
                [t.comparison_id for t in fresh],
                PendingNote(code=HANDLE_CODE, reason=f"waiting in provider batch "
                            f"{handle.batch_id}", detail=json.dumps(handle.to_dict())),
            )
            by_handle.append(handle)
        wanted = {custom_id(t.comparison_id): t for t in tasks}
        for handle in by_handle:
            await wait_for_batch(self.judge, handle, poll_interval=self.poll_interval,
                                 max_wait=self.max_wait, clock=self.clock,
                                 policy=self.policy,
                                 on_status=self.on_status)
            results = await self.judge.fetch_results(handle)
            for cid, result in results.items():
                task = wanted.get(cid)
                if task is not None:
                    yield _outcome(task, result, handle.submitted_at)

    async def _stored_handles(self, tasks: Sequence[ComparisonTask]) -> list[BatchHandle]:
        """Handles stored on these (pending) comparisons by an earlier run, each once."""
        ids = {t.comparison_id for t in tasks}
        handles: dict[str, BatchHandle] = {}
        for row in await self.ledger.comparisons(tasks[0].batch_uuid, tasks[0].round):
            note = row.pending_note
            if row.id in ids and note is not None and note.code == HANDLE_CODE and note.detail:
                handle = BatchHandle.from_dict(json.loads(note.detail))
                handles.setdefault(handle.batch_id, handle)
        return list(handles.values())


def _ids(handle: BatchHandle) -> set[str]:
    return {item.custom_id for item in handle.items}


def _outcome(task: ComparisonTask, result: Verdict | JudgeError,
             submitted_at: float) -> ComparisonOutcome:
    if isinstance(result, Verdict):
        return ComparisonOutcome(comparison_id=task.comparison_id, verdict=result,
                                 started_at=submitted_at, completed_at=time.time())
    return failure_outcome(task, result, submitted_at)
