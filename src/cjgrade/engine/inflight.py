"""Comparisons dispatched and not yet stored, of one round or of two at once (pipelined rounds).

The engine hands each part of a round (the whole round, the early part of the next round, the
rest of it, what a resumed batch re-dispatches) to the dispatcher as one stream, and reads the
outcomes of every stream from here, in groups of what has arrived while the previous group was
being stored (a group commit: each verdict is still stored as soon as the database is free).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from cjgrade.engine.dispatch import ComparisonOutcome, ComparisonTask, Dispatcher

__all__ = ["InFlight"]


@dataclass(frozen=True)
class _Ended:
    """A stream has ended: its comparisons still outstanding will get no outcome from it."""

    comparison_ids: frozenset[int]


class InFlight:
    """Dispatch streams and the comparisons they still owe, by round (see the module docstring).

    Use as an async context manager: leaving it cancels the streams still running (their
    comparisons stay pending in the store; a resumed batch dispatches them again)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._rounds: dict[int, int] = {}
        """comparison id -> its round, while its outcome is awaited."""
        self._arrived: asyncio.Queue[ComparisonOutcome | BaseException | _Ended] = (
            asyncio.Queue())
        self._streams: list[asyncio.Task[None]] = []
        self._error: BaseException | None = None

    async def __aenter__(self) -> InFlight:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for stream in self._streams:
            stream.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)

    def start(self, tasks: Sequence[ComparisonTask]) -> None:
        """Dispatch ``tasks`` (comparisons of one round) as a stream of their own."""
        if not tasks:
            return
        self._rounds.update({t.comparison_id: t.round for t in tasks})
        self._streams.append(asyncio.ensure_future(self._pump(tasks)))

    def outstanding(self, round_index: int | None = None) -> int:
        """Comparisons awaited (of ``round_index`` only, when given)."""
        if round_index is None:
            return len(self._rounds)
        return sum(1 for r in self._rounds.values() if r == round_index)

    async def next_group(self) -> list[ComparisonOutcome]:
        """The outcomes that have arrived (waits for at least one event; the group may be
        empty when a stream ended without an outcome for some comparisons, which then are no
        longer awaited). A stream's crash is raised after the outcomes that arrived before
        it have been returned, so they are stored first."""
        if self._error is not None:
            raise self._error
        items = [await self._arrived.get()]
        while not self._arrived.empty():
            items.append(self._arrived.get_nowait())
        group = []
        for item in items:
            if isinstance(item, ComparisonOutcome):
                self._rounds.pop(item.comparison_id, None)
                group.append(item)
            elif isinstance(item, _Ended):
                for cid in item.comparison_ids:
                    self._rounds.pop(cid, None)
            elif self._error is None:
                self._error = item
        if not group and self._error is not None:
            raise self._error
        return group

    async def _pump(self, tasks: Sequence[ComparisonTask]) -> None:
        try:
            async for outcome in self.dispatcher.dispatch(tasks):
                self._arrived.put_nowait(outcome)
        except BaseException as exc:  # raised by next_group, after the earlier outcomes
            self._arrived.put_nowait(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._arrived.put_nowait(_Ended(frozenset(t.comparison_id for t in tasks)))
