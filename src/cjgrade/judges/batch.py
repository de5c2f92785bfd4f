"""Provider batch APIs as an execution mode: submit many comparisons at once, poll, fetch.

Anthropic Message Batches and the OpenAI Batch API run large, non-urgent jobs at half price
within 24 hours. A :class:`BatchJudge` submits a mapping ``custom_id -> JudgeRequest``, returns
a :class:`BatchHandle` (plain data, so the engine can store it and resume polling after a
restart), reports a :class:`BatchStatus`, and finally maps every ``custom_id`` to a
:class:`Verdict` or to the :class:`JudgeError` that request met (partial results: one failed
request is one failed comparison, the rest of the batch stands). Every verdict carries the flag
``batch_api`` so cost accounting applies the batch discount.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from cjgrade.errors import InputError, JudgeError, JudgeUnavailable
from cjgrade.judges.base import JudgeRequest, Verdict
from cjgrade.judges.prompt import RenderedPrompt, render_request

__all__ = [
    "BATCH_FLAG",
    "BatchHandle",
    "BatchItem",
    "BatchJudge",
    "BatchState",
    "BatchStatus",
    "render_batch",
    "run_batch",
    "wait_for_batch",
]

BATCH_FLAG = "batch_api"
"""Flag on every verdict obtained through a provider batch API (priced at the batch rate)."""

BatchState = Literal["in_progress", "ended", "failed", "expired", "canceled"]

_CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class BatchItem:
    """What is needed to turn one result back into a verdict, kept with the handle."""

    custom_id: str
    request_sha256: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class BatchHandle:
    """A submitted batch. Plain data: ``to_dict``/``from_dict`` round-trip through JSON."""

    provider: str
    model: str
    batch_id: str
    items: tuple[BatchItem, ...]
    submitted_at: float
    """``time.time()`` at submission (verdict latency is measured from here)."""
    input_file_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchHandle:
        items = tuple(
            BatchItem(i["custom_id"], i["request_sha256"], tuple(i["flags"])) for i in data["items"]
        )
        return cls(
            provider=data["provider"],
            model=data["model"],
            batch_id=data["batch_id"],
            items=items,
            submitted_at=float(data["submitted_at"]),
            input_file_id=data.get("input_file_id"),
        )


@dataclass(frozen=True)
class BatchStatus:
    """Progress of a batch as the provider reports it."""

    state: BatchState
    total: int
    succeeded: int
    failed: int
    """Requests that errored, expired or were canceled."""
    provider_status: str
    """The provider's own status word (``in_progress``, ``finalizing``, ``ended``...)."""

    @property
    def done(self) -> bool:
        """True when polling more will not change the results."""
        return self.state != "in_progress"


class BatchJudge(Protocol):
    """A provider batch API for one model."""

    @property
    def name(self) -> str: ...

    async def submit_batch(self, requests: Mapping[str, JudgeRequest]) -> BatchHandle: ...

    async def poll(self, handle: BatchHandle) -> BatchStatus: ...

    async def fetch_results(self, handle: BatchHandle) -> dict[str, Verdict | JudgeError]: ...


def render_batch(requests: Mapping[str, JudgeRequest]) -> dict[str, RenderedPrompt]:
    """Validate custom ids and render every request before anything is uploaded or paid for.

    Raises
    ------
    InputError
        No requests, a custom id that is not 1-64 of ``[A-Za-z0-9_-]``, or an empty essay.
    """
    if not requests:
        raise InputError("a batch needs at least one request")
    bad = [cid for cid in requests if not _CUSTOM_ID.fullmatch(cid)]
    if bad:
        raise InputError(
            f"batch custom ids must be 1-64 characters of A-Z a-z 0-9 _ -; got {bad[:3]!r}"
        )
    return {cid: render_request(request) for cid, request in requests.items()}


def fill_missing(
    handle: BatchHandle, results: dict[str, Verdict | JudgeError]
) -> dict[str, Verdict | JudgeError]:
    """Give every submitted request an outcome: those without a result become retryable
    :class:`JudgeUnavailable` errors (expired or canceled before they ran)."""
    for item in handle.items:
        if item.custom_id not in results:
            results[item.custom_id] = JudgeUnavailable(
                f"batch {handle.batch_id} returned no result for {item.custom_id} "
                "(expired or canceled before it ran); submit it again"
            )
    return results


async def wait_for_batch(
    judge: BatchJudge,
    handle: BatchHandle,
    *,
    poll_interval: float = 60.0,
    max_wait: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_status: Callable[[BatchStatus], None] | None = None,
) -> BatchStatus:
    """Poll until the batch is done; ``sleep`` is injectable so tests do not wait.

    Raises
    ------
    JudgeUnavailable
        When ``max_wait`` seconds of polling pass first; the handle stays valid, so polling can
        resume later.
    """
    waited = 0.0
    while True:
        status = await judge.poll(handle)
        if on_status is not None:
            on_status(status)
        if status.done:
            return status
        if max_wait is not None and waited + poll_interval > max_wait:
            raise JudgeUnavailable(
                f"batch {handle.batch_id} still {status.provider_status} after {waited:.0f} s "
                f"({status.succeeded + status.failed}/{status.total} done); poll it again later"
            )
        await sleep(poll_interval)
        waited += poll_interval


async def run_batch(
    judge: BatchJudge,
    requests: Mapping[str, JudgeRequest],
    *,
    poll_interval: float = 60.0,
    max_wait: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_status: Callable[[BatchStatus], None] | None = None,
) -> dict[str, Verdict | JudgeError]:
    """Submit, wait and fetch: every custom id maps to a verdict or to its error."""
    handle = await judge.submit_batch(requests)
    await wait_for_batch(
        judge,
        handle,
        poll_interval=poll_interval,
        max_wait=max_wait,
        sleep=sleep,
        on_status=on_status,
    )
    return await judge.fetch_results(handle)
