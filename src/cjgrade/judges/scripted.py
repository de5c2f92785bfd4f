"""``scripted``: a test judge in the real registry. Enqueue verdicts and errors; inspect history.

Tests get it through :func:`cjgrade.judges.get_judge` (``get_judge("scripted")``), so the real
runtime (retries, limits, cache, cost) runs around it, as it does around an LLM adapter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cjgrade.errors import InputError, JudgeError
from cjgrade.judges.base import JudgeRequest, Usage, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request
from cjgrade.judges.clock import Clock, SystemClock

__all__ = ["ScriptedJudge", "ScriptedResponse"]

ScriptedResponse = Verdict | JudgeError | Winner | str | Callable[[JudgeRequest], Verdict]
"""A verdict; an error to raise; a winner ("A"/"B") turned into a hard verdict; or a function of
the request returning a verdict."""


@dataclass
class _Step:
    response: ScriptedResponse
    delay_s: float = 0.0
    usage: Usage = field(default_factory=Usage)


class ScriptedJudge:
    """A judge that replays enqueued responses in order. Not an LLM.

    Parameters
    ----------
    name : ``scripted/<model>``.
    clock : used for ``delay_s`` waits (inject a :class:`~cjgrade.judges.clock.ManualClock` to
        make them virtual).
    default : response used when the queue is empty; without one, an empty queue raises
        :class:`~cjgrade.errors.InputError` so a test never passes on a silent default.
    """

    def __init__(self, name: str = "scripted/default", *, clock: Clock | None = None,
                 default: ScriptedResponse | None = None) -> None:
        self._name = name
        self.provider, _, self.model = name.partition("/")
        self.clock = clock or SystemClock()
        self.default = default
        self._queue: deque[_Step] = deque()
        self.history: list[JudgeRequest] = []
        """Every request received, in order (including those answered with an error)."""
        self.call_times: list[float] = []
        """Clock time at which each request arrived."""

    @property
    def name(self) -> str:
        return self._name

    def enqueue(self, *responses: ScriptedResponse, delay_s: float = 0.0,
                usage: Usage | None = None) -> ScriptedJudge:
        """Queue responses; each waits ``delay_s`` before answering and reports ``usage``."""
        for response in responses:
            self._queue.append(_Step(response, delay_s, usage or Usage()))
        return self

    @property
    def pending(self) -> int:
        """Responses still queued."""
        return len(self._queue)

    async def judge(self, request: JudgeRequest) -> Verdict:
        self.history.append(request)
        self.call_times.append(self.clock.monotonic())
        if self._queue:
            step = self._queue.popleft()
        elif self.default is not None:
            step = _Step(self.default)
        else:
            raise InputError(
                f"scripted judge: no response enqueued for request #{len(self.history)}; "
                "call enqueue() first"
            )
        if step.delay_s > 0:
            await self.clock.sleep(step.delay_s)
        return self._respond(step, request)

    def _respond(self, step: _Step, request: JudgeRequest) -> Verdict:
        response = step.response
        if isinstance(response, JudgeError):
            raise response
        if isinstance(response, Verdict):
            return response
        if callable(response):
            return response(request)
        winner = Winner(str(response).upper())
        return Verdict(
            winner=winner,
            p_a=1.0 if winner is Winner.A else 0.0,
            justification=f"scripted verdict: {winner.value} (not an LLM)",
            provider=self.provider,
            model=self.model,
            request_sha256=fingerprint_request(request),
            usage=step.usage,
            raw_response=winner.value,
        )
