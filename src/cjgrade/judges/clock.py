"""Clocks for the judge runtime: the real one, and a manual (virtual-time) one.

The runtime never calls ``time`` or ``asyncio.sleep`` directly; it asks a :class:`Clock`. With
:class:`ManualClock`, backoff waits, rate-limit waits, circuit-breaker recovery and timeouts all
happen in virtual time, so code that would wait minutes runs in microseconds and its timing can
be asserted exactly (what was slept, and when each call started).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Monotonic time, sleeping and timeouts."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        """Context manager raising :class:`TimeoutError` when its body outlives ``seconds``."""
        ...


class SystemClock:
    """Real time: ``time.monotonic``, ``asyncio.sleep`` and ``asyncio.timeout``."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout(seconds)


class ManualClock:
    """Virtual time: ``sleep`` advances the clock at once and records the duration.

    A ``timeout`` block sets a deadline for the current task; a ``sleep`` inside it that would
    pass the deadline moves the clock to the deadline and raises :class:`TimeoutError`, as the
    real timeout would. Intended for tests and deterministic simulations.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        """Every non-zero sleep, in order."""
        self._deadlines: dict[asyncio.Task[object] | None, list[float]] = {}

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping (e.g. to let a circuit breaker recover)."""
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        deadlines = self._deadlines.get(asyncio.current_task())
        if deadlines and self.now + seconds >= min(deadlines):
            self.now = max(self.now, min(deadlines))
            raise TimeoutError
        self.now += seconds
        if seconds > 0:
            self.sleeps.append(seconds)
        await asyncio.sleep(0)

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        return self._timeout(seconds)

    @asynccontextmanager
    async def _timeout(self, seconds: float) -> AsyncIterator[None]:
        task = asyncio.current_task()
        stack = self._deadlines.setdefault(task, [])
        stack.append(self.now + seconds)
        try:
            yield
        finally:
            stack.pop()
            if not stack:
                del self._deadlines[task]
