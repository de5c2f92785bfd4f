"""The one wrapper around every judge adapter.

Adapters only *classify* failures (raising :class:`~cjgrade.errors.JudgeError` subclasses with
``retryable`` set); :class:`JudgeRuntime` *enforces*, once for all providers:

- response cache lookup and store (key: provider, model, settings, request SHA-256);
- a provider gate (:class:`ProviderGate`): concurrency semaphore, requests-per-minute and
  tokens-per-minute token buckets, a pause after ``Retry-After``, a circuit breaker;
- a per-request timeout ("no answer within N s", named also when the circuit then opens);
- retries with exponential backoff and jitter on retryable errors, honouring ``retry_after``;
  authentication and other non-retryable errors fail at once; the requests really sent are
  counted (``Verdict.attempts``, ``BilledSpend.attempts``);
- one check of every adapter's verdict (:func:`~cjgrade.judges.verdict.checked_verdict`) and
  of its usage report (:func:`~cjgrade.judges.cost.usage_problem`: an unusable one is flagged
  and priced as unknown, never lowered or priced at a made-up count);
- cost from the manifest prices, latency, and running totals in a :class:`CostLedger`;
  invalid replies the provider billed are priced too: added to the verdict that follows them
  (flag ``billed_retries:N``) or attached to the final error (:func:`~cjgrade.judges.cost.
  billed_spend`), so verdicts plus failures sum to the real spend.

Time comes from an injectable :class:`~cjgrade.judges.clock.Clock`, so every wait can be
tested in virtual time.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from cjgrade.errors import (
    CircuitOpen,
    JudgeError,
    JudgeOutputInvalid,
    JudgeRateLimited,
    JudgeUnavailable,
)
from cjgrade.judges.base import Judge, JudgeRequest, ModelInfo, ResponseCache, Usage, Verdict
from cjgrade.judges.cache import fingerprint_request, make_cache_key
from cjgrade.judges.clock import Clock, SystemClock
from cjgrade.judges.cost import (
    BilledSpend,
    CostLedger,
    add_cost,
    add_usage,
    usage_problem,
)
from cjgrade.judges.pricing import checked_usage, failure_charge, is_unusable, priced_verdict
from cjgrade.judges.prompt import find_injection
from cjgrade.judges.verdict import attach_reply, checked_verdict

__all__ = [
    "CircuitBreaker",
    "JudgeRuntime",
    "ProviderGate",
    "RuntimePolicy",
    "TokenBucket",
    "estimate_tokens",
    "injection_flags",
    "retry_delay",
]

_CHARS_PER_TOKEN = 4.0  # rough English average, only used before the real count is known


@dataclass(frozen=True)
class RuntimePolicy:
    """How the runtime treats one provider. Defaults suit a remote LLM API."""

    max_attempts: int = 4
    """Attempts per comparison, the first included (1 = no retry)."""
    backoff_base_s: float = 1.0
    """Backoff before retry ``n`` is ``base * 2**(n-1)`` capped at ``backoff_max_s``..."""
    backoff_max_s: float = 60.0
    jitter: float = 0.5
    """...then multiplied by a uniform draw in ``[1 - jitter, 1]`` (0 = no jitter)."""
    max_retry_after_s: float = 300.0
    """A ``Retry-After`` longer than this ends the retries instead of waiting."""
    timeout_s: float | None = 120.0
    """Per-request timeout in seconds (None = none); ``cjgrade run --timeout``. The SDK
    clients get the same value. A request that times out fails with "no answer within N s"
    and is retried; the reason stays named when the circuit then opens."""
    max_concurrency: int = 8
    """Calls in flight at once for the provider."""
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    """One budget over every token class together (uncached input, cache reads and writes,
    output). A request is charged an estimate up front (characters / 4 + ``max_tokens``) and
    settled with the real count once the reply (or a billed invalid reply) is in; a timed-out
    attempt keeps its estimate. Providers that limit input and output separately (Anthropic
    ITPM/OTPM, which also leaves cache reads out) are therefore met conservatively: set this to
    the smaller limit."""
    burst_s: float = 10.0
    """The RPM/TPM buckets hold at most this many seconds' worth of allowance."""
    breaker_failures: int = 5
    """Consecutive transient failures (5xx, timeouts, connection errors) that open the circuit."""
    breaker_recovery_s: float = 60.0
    """Time the circuit stays open before one probe call is let through."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_concurrency < 1 or self.breaker_failures < 1:
            raise ValueError("max_attempts, max_concurrency and breaker_failures must be >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be in [0, 1]")
        for value in (self.requests_per_minute, self.tokens_per_minute, self.timeout_s):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError("rate limits and timeout must be positive and finite (or None)")


def retry_delay(policy: RuntimePolicy, exc: JudgeError, attempt: int,
                rng: random.Random) -> float | None:
    """Seconds to wait after attempt ``attempt`` (1-based) failed with ``exc``, or None to
    give up: not retryable, attempts used up, or a ``Retry-After`` above
    ``policy.max_retry_after_s``. A ``Retry-After`` is waited as given; otherwise exponential
    backoff with jitter. The one retry policy of the runtime and of batch polling."""
    if not exc.retryable or attempt >= policy.max_attempts:
        return None
    retry_after = exc.retry_after if isinstance(exc, JudgeRateLimited) else None
    if retry_after is not None:
        return None if retry_after > policy.max_retry_after_s else max(0.0, retry_after)
    delay = min(policy.backoff_max_s, policy.backoff_base_s * 2.0 ** (attempt - 1))
    return delay * (1.0 - policy.jitter * rng.random())


class TokenBucket:
    """A token bucket refilled continuously at ``rate_per_s`` up to ``capacity``.

    ``acquire(n)`` waits until ``n`` tokens are available (at most ``capacity`` are needed, so a
    request larger than the bucket still passes when it is full, leaving a debt that later
    requests wait for). ``settle(delta)`` charges a correction once the real cost is known.
    Waiters are served first come, first served.
    """

    def __init__(self, rate_per_s: float, capacity: float, clock: Clock) -> None:
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.clock = clock
        self.tokens = capacity
        self._updated = clock.monotonic()
        self._lock = asyncio.Lock()

    def rebind(self) -> None:
        """A new lock for a new event loop (the token count carries over)."""
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now

    async def acquire(self, n: float = 1.0) -> None:
        async with self._lock:
            need = min(n, self.capacity)
            while True:
                self._refill()
                if self.tokens >= need - 1e-9:  # tolerance: float refill may fall a hair short
                    self.tokens -= n
                    return
                await self.clock.sleep(max((need - self.tokens) / self.rate_per_s, 1e-6))

    def settle(self, delta: float) -> None:
        """Charge ``delta`` more tokens (negative: give tokens back)."""
        self._refill()
        self.tokens = min(self.capacity, self.tokens - delta)


class CircuitBreaker:
    """Closed → open after ``failures`` consecutive transient failures; after ``recovery_s``
    one probe call is let through (half-open); its success closes the circuit, its failure
    re-opens it. While open, calls fail at once with :class:`JudgeUnavailable`."""

    def __init__(self, name: str, failures: int, recovery_s: float, clock: Clock) -> None:
        self.name = name
        self.failures = failures
        self.recovery_s = recovery_s
        self.clock = clock
        self.state = "closed"
        self.consecutive_failures = 0
        self.last_failure = ""
        """The reason of the latest transient failure, named when the circuit is open."""
        self._opened_at = 0.0
        self._probing = False

    def check(self) -> None:
        """Raise :class:`JudgeUnavailable` unless a call may go ahead."""
        if self.state == "closed":
            return
        now = self.clock.monotonic()
        if self.state == "open" and now - self._opened_at >= self.recovery_s:
            self.state = "half_open"
        if self.state == "half_open" and not self._probing:
            self._probing = True
            return
        wait = max(0.0, self._opened_at + self.recovery_s - now)
        last = f" (the last: {self.last_failure})" if self.last_failure else ""
        raise CircuitOpen(
            f"{self.name}: circuit open after {self.consecutive_failures} consecutive "
            f"failures{last}; the provider looks down, try again in {wait:.0f} s"
        )

    def record_failure(self, reason: str = "") -> None:
        self.consecutive_failures += 1
        self.last_failure = reason or self.last_failure
        self._probing = False
        if self.state == "half_open" or self.consecutive_failures >= self.failures:
            self.state = "open"
            self._opened_at = self.clock.monotonic()

    def record_answer(self) -> None:
        """The provider answered (a verdict, or even an invalid or refused one)."""
        self.consecutive_failures = 0
        self._probing = False
        self.state = "closed"


class ProviderGate:
    """Limits shared by every call to one provider: pass the same gate to several runtimes
    (e.g. two models on one account) to make them share the provider's limits."""

    def __init__(self, name: str, policy: RuntimePolicy, clock: Clock) -> None:
        self.name = name
        self.clock = clock
        self._max_concurrency = policy.max_concurrency
        self.semaphore = asyncio.Semaphore(policy.max_concurrency)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.rpm = self._bucket(policy.requests_per_minute, policy.burst_s, clock)
        self.tpm = self._bucket(policy.tokens_per_minute, policy.burst_s, clock)
        self.breaker = CircuitBreaker(name, policy.breaker_failures, policy.breaker_recovery_s,
                                      clock)
        self.resume_at = float("-inf")
        """No call starts before this time (set from a provider's ``Retry-After``)."""

    @staticmethod
    def _bucket(per_minute: float | None, burst_s: float, clock: Clock) -> TokenBucket | None:
        if per_minute is None:
            return None
        rate = per_minute / 60.0
        return TokenBucket(rate, max(1.0, rate * burst_s), clock)

    def bind_loop(self) -> None:
        """Use fresh asyncio primitives when called from a new event loop (a judge built once
        and used by several ``asyncio.run`` calls), as asyncio primitives belong to one loop."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        self._loop = loop
        self.semaphore = asyncio.Semaphore(self._max_concurrency)
        for bucket in (self.rpm, self.tpm):
            if bucket is not None:
                bucket.rebind()

    def pause_until(self, when: float) -> None:
        self.resume_at = max(self.resume_at, when)

    async def wait_turn(self, tokens: float) -> None:
        """Wait for a pause to end and for the RPM and TPM allowances."""
        while (delay := self.resume_at - self.clock.monotonic()) > 0:
            await self.clock.sleep(delay)
        if self.rpm is not None:
            await self.rpm.acquire(1.0)
        if self.tpm is not None:
            await self.tpm.acquire(tokens)


def estimate_tokens(request: JudgeRequest) -> int:
    """Upper-bound guess of the tokens a request will use: its text plus ``max_tokens``."""
    chars = sum(len(part) for part in (request.system_prompt, request.student_prompt,
                                       request.instructions, request.rubric, request.essay_a,
                                       request.essay_b))
    return int(chars / _CHARS_PER_TOKEN) + request.settings.max_tokens


def injection_flags(request: JudgeRequest) -> tuple[str, ...]:
    """``injection_suspected:A``/``:B`` for essays containing text aimed at the judge, so
    every judge's verdict shows the flag (LLM adapters add it too; duplicates are dropped)."""
    return tuple(f"injection_suspected:{label}"
                 for label, text in (("A", request.essay_a), ("B", request.essay_b))
                 if find_injection(text))


def _total_tokens(usage: Usage) -> int:
    return (usage.input_tokens + usage.output_tokens + usage.cache_read_tokens
            + usage.cache_write_tokens)


class JudgeRuntime:
    """A :class:`~cjgrade.judges.base.Judge` that wraps an adapter with the policies above."""

    def __init__(
        self,
        adapter: Judge,
        info: ModelInfo,
        *,
        policy: RuntimePolicy | None = None,
        clock: Clock | None = None,
        gate: ProviderGate | None = None,
        cache: ResponseCache | None = None,
        cache_namespace: str = "",
        ledger: CostLedger | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.adapter = adapter
        self.info = info
        self.policy = policy or RuntimePolicy()
        self.clock = clock or SystemClock()
        self.gate = gate or ProviderGate(info.provider, self.policy, self.clock)
        self.cache = cache
        self.cache_namespace = cache_namespace
        self.ledger = ledger if ledger is not None else CostLedger()
        self._rng = rng or random.Random()

    @property
    def name(self) -> str:
        return self.adapter.name

    def request_sha256(self, request: JudgeRequest) -> str:
        """The adapter's hash of the rendered request when it offers one, else the canonical
        fingerprint of the request fields."""
        own = getattr(self.adapter, "request_sha256", None)
        return own(request) if callable(own) else fingerprint_request(request)

    def cache_key(self, request: JudgeRequest) -> str:
        namespace = "|".join((getattr(self.adapter, "cache_namespace", ""),
                              self.cache_namespace))
        return make_cache_key(self.info.provider, self.info.model, request.settings,
                              self.request_sha256(request), namespace)

    async def judge(self, request: JudgeRequest) -> Verdict:
        """Judge one ordered pair; raises a :class:`JudgeError` after exhausting retries."""
        key = None
        if self.cache is not None:
            key = self.cache_key(request)
            hit = await self.cache.get(key)
            if hit is not None:
                self.ledger.record(hit, cached=True, name=self.name)
                return replace(hit, cost_usd=0.0, usage=Usage(), latency_s=0.0, attempts=0,
                               flags=(*hit.flags, "cached"))
        verdict = await self._judge_with_retries(request)
        if self.cache is not None and key is not None:
            await self.cache.put(key, verdict)
        return verdict

    async def judge_many(self, requests: Iterable[JudgeRequest]) -> list[Verdict | JudgeError]:
        """Judge requests concurrently (bounded by the gate); failures are returned in place."""

        async def one(request: JudgeRequest) -> Verdict | JudgeError:
            try:
                return await self.judge(request)
            except JudgeError as exc:
                return exc

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def aclose(self) -> None:
        """Close the adapter's resources (HTTP clients) when it has any."""
        closer = getattr(self.adapter, "aclose", None)
        if callable(closer):
            await closer()

    async def _judge_with_retries(self, request: JudgeRequest) -> Verdict:
        policy = self.policy
        breaker = self.gate.breaker
        tally = _Tally()
        for attempt in range(1, policy.max_attempts + 1):
            try:
                verdict = await self._attempt(request, tally)
            except JudgeError as exc:
                if isinstance(exc, CircuitOpen):
                    self.ledger.record_failure(self.name)
                    raise self._final_error(exc, tally) from None
                self._bill_failed_reply(exc, tally)
                if isinstance(exc, JudgeUnavailable):
                    breaker.record_failure(self._own_words(exc))
                else:
                    breaker.record_answer()
                tally.last_error = exc
                delay = self._retry_delay(exc, attempt)
                if delay is None:
                    self.ledger.record_failure(self.name)
                    raise self._final_error(exc, tally) from None
                await self.clock.sleep(delay)
                continue
            breaker.record_answer()
            if tally.billed_replies:
                verdict = replace(
                    verdict,
                    usage=add_usage(verdict.usage, tally.billed),
                    cost_usd=add_cost(verdict.cost_usd, tally.billed_cost),
                    flags=(*verdict.flags, f"billed_retries:{tally.billed_replies}"),
                )
            return replace(verdict, attempts=tally.requests)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _own_words(self, exc: JudgeError) -> str:
        """The error's message without this judge's name in front (it is said once)."""
        text = str(exc) or type(exc).__name__
        return text.removeprefix(f"{self.name}: ").removeprefix(f"{self.gate.name}: ")

    def _final_error(self, exc: JudgeError, tally: _Tally) -> JudgeError:
        """The error a comparison fails with: the last failure of its own requests first (a
        timeout stays named as the cause when the circuit then opened), how many requests
        were made, and what was billed (read with :func:`billed_spend`)."""
        own = tally.last_error
        if isinstance(exc, CircuitOpen) and own is not None and own is not exc:
            circuit = self._own_words(exc)
            last = f" (the last: {self.gate.breaker.last_failure})"
            if self._own_words(own) == self.gate.breaker.last_failure:
                circuit = circuit.replace(last, " like this one")
            exc.args = (f"{own}; then {circuit}",)
        if tally.requests > 1:
            exc.args = (f"{exc} (gave up after {tally.requests} attempts)",)
        exc.billed = BilledSpend(tally.billed, tally.billed_cost, tally.requests)
        return exc

    def _bill_failed_reply(self, exc: JudgeError, tally: _Tally) -> None:
        """Price and record a reply the provider billed although it gave no verdict. A usage
        report that cannot be priced (unreadable, negative, implausible) makes the cost
        unknown, never 0."""
        charge = failure_charge(exc, self.info)
        if charge is None:
            return  # no reply (a 5xx, a timeout, a connection error): nothing billed
        usage, cost = charge.usage, charge.cost_usd
        if charge.problem is not None:
            exc.args = (f"{exc} [billed, cost unknown: {charge.problem}]",)
        self.ledger.record_billed_failure(self.name, usage, cost)
        tally.billed = add_usage(tally.billed, usage)
        tally.billed_cost = add_cost(tally.billed_cost, cost)
        tally.billed_replies += 1

    def _retry_delay(self, exc: JudgeError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt (:func:`retry_delay`), or None to give up; a
        ``Retry-After`` that is waited also pauses every call through the gate."""
        delay = retry_delay(self.policy, exc, attempt, self._rng)
        if delay is not None and isinstance(exc, JudgeRateLimited) \
                and exc.retry_after is not None:
            self.gate.pause_until(self.clock.monotonic() + exc.retry_after)
        return delay

    async def _attempt(self, request: JudgeRequest, tally: _Tally) -> Verdict:
        gate = self.gate
        estimate = estimate_tokens(request) if gate.tpm is not None else 0
        timeout_s = self.policy.timeout_s
        gate.bind_loop()
        async with gate.semaphore:
            gate.breaker.check()  # here, not earlier: the circuit may open while we queue
            await gate.wait_turn(estimate)
            start = self.clock.monotonic()
            tally.requests += 1  # from here on the provider is asked (and may bill)
            try:
                if timeout_s is None:
                    verdict = await self.adapter.judge(request)
                else:
                    async with self.clock.timeout(timeout_s):
                        verdict = await self.adapter.judge(request)
                verdict = self._checked(verdict)
            except TimeoutError:
                # the provider may have spent the tokens anyway: the estimate stays charged
                raise JudgeUnavailable(
                    f"{self.name}: no answer within {timeout_s:g} s (per-request timeout)"
                ) from None
            except JudgeError as exc:
                usage = exc.usage
                if gate.tpm is not None and usage is not None \
                        and usage_problem(usage, self.info) is None:
                    gate.tpm.settle(_total_tokens(usage) - estimate)  # a billed invalid reply
                raise
            latency = self.clock.monotonic() - start
        if gate.tpm is not None and not is_unusable(verdict):
            gate.tpm.settle(_total_tokens(verdict.usage) - estimate)
        verdict = priced_verdict(verdict, self.info)
        extra = tuple(f for f in injection_flags(request) if f not in verdict.flags)
        verdict = replace(verdict, latency_s=latency, flags=verdict.flags + extra)
        self.ledger.record(verdict, name=self.name)
        return verdict

    def _checked(self, verdict: Verdict) -> Verdict:
        """The one check every adapter's verdict passes (:func:`checked_verdict`), plus its
        usage report: one that cannot be priced is replaced by 0 tokens and flagged
        ``usage_unusable:<reason>`` (cost unknown), so the verdict is kept, not paid twice."""
        try:
            verdict = checked_verdict(verdict)
        except JudgeOutputInvalid as exc:
            usage = verdict.usage if isinstance(verdict.usage, Usage) else None
            raise attach_reply(exc, usage, str(verdict.raw_response)) from None
        return checked_usage(verdict, self.info)


@dataclass
class _Tally:
    """What one comparison's attempts added up to so far."""

    requests: int = 0
    """Requests sent to the provider (not calls refused by an open circuit)."""
    billed: Usage = field(default_factory=Usage)
    """Tokens of the invalid replies the provider billed."""
    billed_cost: float | None = 0.0
    billed_replies: int = 0
    last_error: JudgeError | None = None
