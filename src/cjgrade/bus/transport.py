"""The transport protocol and the in-process implementation.

A transport publishes envelopes to topics and hands subscribers the envelopes of a topic in
publication order. The in-process transport is the embedded default; a Kafka transport
implements the same protocol for deployments with several machines.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from cjgrade.bus.events import EnvelopeModel
from cjgrade.errors import BusError

__all__ = ["InProcessTransport", "Subscription", "Transport"]


@runtime_checkable
class Subscription(Protocol):
    """Envelopes of one topic, in order; iterate with ``async for``."""

    def __aiter__(self) -> AsyncIterator[EnvelopeModel]: ...

    async def close(self) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """Publish/subscribe by topic. ``publish`` returns once the transport has the envelope."""

    async def publish(self, topic: str, envelope: EnvelopeModel) -> None: ...

    def subscribe(self, topic: str, *, group: str | None = None) -> Subscription:
        """Subscribers of one ``group`` share the topic's envelopes (each goes to one of them,
        like a Kafka consumer group); without a group every subscriber gets every envelope."""
        ...

    async def close(self) -> None: ...


class _QueueSubscription:
    def __init__(self, owner: InProcessTransport, topic: str, group: str | None) -> None:
        self._owner = owner
        self._topic = topic
        self.group = group
        self.queue: asyncio.Queue[EnvelopeModel | None] = asyncio.Queue()

    async def __anext__(self) -> EnvelopeModel:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    def __aiter__(self) -> _QueueSubscription:
        return self

    async def close(self) -> None:
        self._owner._detach(self._topic, self)
        self.queue.put_nowait(None)


class InProcessTransport:
    """Fan-out to every subscriber of a topic through asyncio queues (one event loop); within
    a consumer group, round-robin.

    ``published`` keeps every (topic, envelope) in order, for reports and tests.
    """

    def __init__(self) -> None:
        self._subscribers: dict[str, list[_QueueSubscription]] = defaultdict(list)
        self.published: list[tuple[str, EnvelopeModel]] = []
        self._turns: dict[tuple[str, str], int] = defaultdict(int)
        self._closed = False

    async def publish(self, topic: str, envelope: EnvelopeModel) -> None:
        if self._closed:
            raise BusError("the in-process transport is closed")
        self.published.append((topic, envelope))
        groups: dict[str, list[_QueueSubscription]] = defaultdict(list)
        for sub in list(self._subscribers[topic]):
            if sub.group is None:
                sub.queue.put_nowait(envelope)
            else:
                groups[sub.group].append(sub)
        for group, members in groups.items():
            turn = self._turns[(topic, group)]
            self._turns[(topic, group)] = turn + 1
            members[turn % len(members)].queue.put_nowait(envelope)

    def subscribe(self, topic: str, *, group: str | None = None) -> _QueueSubscription:
        if self._closed:
            raise BusError("the in-process transport is closed")
        sub = _QueueSubscription(self, topic, group)
        self._subscribers[topic].append(sub)
        return sub

    def _detach(self, topic: str, sub: _QueueSubscription) -> None:
        if sub in self._subscribers[topic]:
            self._subscribers[topic].remove(sub)

    def events(self, topic: str) -> list[EnvelopeModel]:
        """Envelopes published to ``topic`` so far."""
        return [env for t, env in self.published if t == topic]

    async def close(self) -> None:
        self._closed = True
        for subs in self._subscribers.values():
            for sub in list(subs):
                sub.queue.put_nowait(None)
        self._subscribers.clear()
