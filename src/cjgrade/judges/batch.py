"""Provider batch APIs as an execution mode: submit many comparisons at once, poll, fetch.

Anthropic Message Batches and the OpenAI Batch API run large, non-urgent jobs at half price
within 24 hours. A :class:`BatchJudge` submits a mapping ``custom_id -> JudgeRequest``, returns
a :class:`BatchHandle` (plain data, so the engine can store it and resume polling after a
restart), reports a :class:`BatchStatus`, and finally maps every ``custom_id`` to a
:class:`Verdict` or to the :class:`JudgeError` that request met (partial results: one failed
request is one failed comparison, the rest of the batch stands). Every verdict carries the flag
``batch_api`` and is priced at the manifest's ``batch_price_factor`` (half price); an invalid
reply the provider billed carries its batch-rate cost as :func:`~cjgrade.judges.cost.
billed_spend`. Both go into the judge's :class:`~cjgrade.judges.cost.CostLedger`.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Literal, Protocol, Self

from cjgrade.errors import (
    ConfigError,
    InputError,
    JudgeError,
    JudgeOutputInvalid,
    JudgeRateLimited,
    JudgeUnavailable,
)
from cjgrade.judges.base import JudgeRequest, ModelInfo, Verdict
from cjgrade.judges.clock import Clock, SystemClock
from cjgrade.judges.cost import BATCH_FLAG, BilledSpend, CostLedger, compute_cost
from cjgrade.judges.pricing import checked_usage, failure_charge, is_unusable
from cjgrade.judges.prompt import RenderedPrompt, render_request
from cjgrade.judges.runtime import RuntimePolicy, retry_delay
from cjgrade.judges.verdict import attach_reply, checked_verdict

__all__ = [
    "BATCH_FLAG",
    "BatchHandle",
    "BatchItem",
    "BatchJudge",
    "BatchState",
    "BatchStatus",
    "ProviderBatchJudge",
    "render_batch",
    "run_batch",
    "wait_for_batch",
]

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


def require_batch_support(provider: str, info: ModelInfo) -> None:
    """ConfigError unless the manifest marks the model batch-capable."""
    if not info.supports_batch_api:
        raise ConfigError(
            f"{provider}/{info.model} is not marked supports_batch_api in the model manifest: "
            "run it without batch mode or pick a batch-capable model (capability B in "
            "'cjgrade judges list')"
        )


class ProviderBatchJudge:
    """What the Anthropic and OpenAI batch judges share: the model, the SDK client, the cost
    ledger, handles, and turning raw per-request outcomes into priced results."""

    provider: ClassVar[str]
    env_var: ClassVar[str]
    """The key variable named in messages when the manifest's is not given (direct use)."""

    def __init__(self, info: ModelInfo, client: Any, *, ledger: CostLedger | None = None,
                 key_env_var: str | None = None) -> None:
        require_batch_support(self.provider, info)
        self.info = info
        self.key_env_var = key_env_var or self.env_var
        """The manifest's key variable of the provider, named in auth errors."""
        self._client = client
        self.ledger = ledger if ledger is not None else CostLedger()
        """Tokens and batch-rate cost of every fetched result."""

    @classmethod
    def create(cls, info: ModelInfo, *, api_key: str | None = None,
               base_url: str | None = None, timeout: float = 120.0,
               ledger: CostLedger | None = None, env_var: str | None = None) -> Self:
        """Check the model is batch-capable, then build the SDK client (a missing key fails
        here, before anything is sent, naming ``env_var``, the manifest's key variable)."""
        require_batch_support(cls.provider, info)
        env_var = env_var or cls.env_var
        client = cls.create_client(api_key=api_key, base_url=base_url, timeout=timeout,
                                   env_var=env_var)
        return cls(info, client, ledger=ledger, key_env_var=env_var)

    @staticmethod
    def create_client(*, api_key: str | None, base_url: str | None, timeout: float,
                      env_var: str | None) -> Any:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.info.model}"

    def make_handle(self, batch_id: str, rendered: Mapping[str, RenderedPrompt],
                    input_file_id: str | None = None) -> BatchHandle:
        """The handle of a just-created batch (every item flagged ``batch_api``)."""
        return BatchHandle(
            provider=self.provider,
            model=self.info.model,
            batch_id=batch_id,
            items=tuple(BatchItem(cid, r.request_sha256, (*r.flags, BATCH_FLAG))
                        for cid, r in rendered.items()),
            submitted_at=time.time(),
            input_file_id=input_file_id,
        )

    def finish_results(self, handle: BatchHandle, results: dict[str, Verdict | JudgeError]
                       ) -> dict[str, Verdict | JudgeError]:
        """Price every outcome at the batch rate, record it in the ledger, and give every
        submitted request an outcome: one without a result becomes a retryable
        :class:`JudgeUnavailable` (expired or canceled before it ran)."""
        for item in handle.items:
            if item.custom_id not in results:
                results[item.custom_id] = JudgeUnavailable(
                    f"batch {handle.batch_id} returned no result for {item.custom_id} "
                    "(expired or canceled before it ran); submit it again"
                )
        return {cid: self._price(outcome) for cid, outcome in results.items()}

    def _price(self, outcome: Verdict | JudgeError) -> Verdict | JudgeError:
        """The outcome checked and priced at the batch rate by the runtime's own pricing
        (:mod:`cjgrade.judges.pricing`), and recorded in the ledger."""
        if isinstance(outcome, Verdict):
            try:
                outcome = checked_verdict(outcome)
            except JudgeOutputInvalid as exc:
                outcome = attach_reply(exc, outcome.usage, outcome.raw_response)
        if isinstance(outcome, Verdict):
            verdict = checked_usage(outcome, self.info)
            if not is_unusable(verdict):
                verdict = replace(verdict, cost_usd=compute_cost(verdict.usage, self.info,
                                                                 batch=True))
            self.ledger.record(verdict, name=self.name)
            return verdict
        charge = failure_charge(outcome, self.info, batch=True)
        if charge is not None:  # an invalid reply, billed at the batch rate
            self.ledger.record_billed_failure(self.name, charge.usage, charge.cost_usd)
            outcome.billed = BilledSpend(charge.usage, charge.cost_usd, 1)
        self.ledger.record_failure(self.name)
        return outcome

async def wait_for_batch(
    judge: BatchJudge,
    handle: BatchHandle,
    *,
    poll_interval: float = 60.0,
    max_wait: float | None = None,
    clock: Clock | None = None,
    policy: RuntimePolicy | None = None,
    rng: random.Random | None = None,
    on_status: Callable[[BatchStatus], None] | None = None,
) -> BatchStatus:
    """Poll until the batch is done, waiting through ``clock`` (a ``ManualClock`` in tests).

    A poll that fails transiently (HTTP 5xx, 429, a timeout or connection error) is tried again
    with the runtime's retry policy (``policy``, default :class:`RuntimePolicy`: backoff with
    jitter drawn from ``rng``, ``Retry-After`` honoured); a successful poll starts the count
    afresh.

    Raises
    ------
    JudgeUnavailable
        When ``max_wait`` seconds of polling pass first; the handle stays valid, so polling can
        resume later.
    JudgeError
        A poll failure that is not transient, or one still failing after ``policy.max_attempts``
        attempts (the batch itself runs on and can be polled again later).
    """
    clock = clock or SystemClock()
    policy = policy or RuntimePolicy()
    rng = rng or random.Random()
    waited = 0.0
    while True:
        status = await _poll_with_retries(judge, handle, clock, policy, rng)
        if on_status is not None:
            on_status(status)
        if status.done:
            return status
        if max_wait is not None and waited + poll_interval > max_wait:
            raise JudgeUnavailable(
                f"batch {handle.batch_id} still {status.provider_status} after {waited:.0f} s "
                f"({status.succeeded + status.failed}/{status.total} done); poll it again later"
            )
        await clock.sleep(poll_interval)
        waited += poll_interval


async def _poll_with_retries(judge: BatchJudge, handle: BatchHandle, clock: Clock,
                             policy: RuntimePolicy, rng: random.Random) -> BatchStatus:
    attempt = 1
    while True:
        try:
            return await judge.poll(handle)
        except (JudgeUnavailable, JudgeRateLimited) as exc:
            delay = retry_delay(policy, exc, attempt, rng)
            if delay is None:
                if attempt > 1:
                    exc.args = (f"{exc} (polling gave up after {attempt} attempts)",)
                raise
            await clock.sleep(delay)
            attempt += 1


async def run_batch(
    judge: BatchJudge,
    requests: Mapping[str, JudgeRequest],
    *,
    poll_interval: float = 60.0,
    max_wait: float | None = None,
    clock: Clock | None = None,
    policy: RuntimePolicy | None = None,
    on_status: Callable[[BatchStatus], None] | None = None,
) -> dict[str, Verdict | JudgeError]:
    """Submit, wait (see :func:`wait_for_batch`) and fetch: every custom id maps to a verdict
    or to its error."""
    handle = await judge.submit_batch(requests)
    await wait_for_batch(
        judge,
        handle,
        poll_interval=poll_interval,
        max_wait=max_wait,
        clock=clock,
        policy=policy,
        on_status=on_status,
    )
    return await judge.fetch_results(handle)
