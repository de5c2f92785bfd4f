"""The transport protocol and the in-process implementation.

A transport publishes envelopes to topics and hands subscribers the envelopes of a topic in
publication order. The in-process transport is the embedded default; a Kafka transport
implements the same protocol for deployments with several machines.

A :class:`Subscription` offers two ways to read: ``async for`` (a record counts as handled
once the next one is asked for) and :meth:`~Subscription.next_delivery` with an explicit
:meth:`~Subscription.ack`, for consumers that handle several records at once. Every
subscription implements the whole protocol; where a transport has nothing to do (the
in-process one has no offsets and no lag) the method is a documented no-op.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cjgrade.bus.events import EnvelopeModel
from cjgrade.errors import BusError

__all__ = ["DEFAULT_PARTITIONS", "Delivery", "InProcessTransport", "Subscription", "Transport"]

DEFAULT_PARTITIONS = 24
"""Partitions of each topic a Kafka transport creates. A consumer group shares a topic's
partitions among its members, so a count the number of workers divides keeps them equally
busy: 24 is divided by 1, 2, 3, 4, 6, 8 and 12 (with 8 partitions 3 workers got 3/3/2 and two
of them a third more requests than their slots: docs/benchmarks.md, "Pipelined rounds")."""


@dataclass(frozen=True)
class Delivery:
    """One record of a subscription; acknowledge it once it is handled."""

    envelope: EnvelopeModel | None
    """None when the record was not a valid envelope (it is logged, and must still be acked)."""
    partition: int
    offset: int
    topic: str


@runtime_checkable
class Subscription(Protocol):
    """Envelopes of one topic, in order; iterate with ``async for`` or take
    :class:`Delivery` values with :meth:`next_delivery` and :meth:`ack` them."""

    on_records_lost: Callable[[], None] | None
    """Set by the reader: called when the broker is found to have lost records the
    subscription had read past (a broker restarted with memory storage), so what was published
    before may never arrive. The in-process transport never loses any."""

    def __aiter__(self) -> AsyncIterator[EnvelopeModel]: ...

    async def start(self) -> None:
        """Connect and take position now (otherwise done on first read); a subscription
        without a group sees what is published from then on."""
        ...

    async def next_delivery(self) -> Delivery:
        """The next record; raises StopAsyncIteration once the subscription is closed."""
        ...

    def ack(self, delivery: Delivery) -> None:
        """The record is handled: its offset may be committed (once every earlier one is)."""
        ...

    async def lag(self) -> int:
        """Records published to the subscribed partitions and not yet read (0 if unknown)."""
        ...

    async def caught_up(self, timeout_s: float) -> bool:
        """Wait until every record published before this call has been handed out (by
        ``async for`` or :meth:`next_delivery`); False at the timeout."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """Publish/subscribe by topic. ``publish`` returns once the transport has the envelope."""

    async def publish(self, topic: str, envelope: EnvelopeModel) -> None: ...

    def subscribe(self, topic: str, *, group: str | None = None,
                  sole: bool = False) -> Subscription:
        """Subscribers of one ``group`` share the topic's envelopes (each goes to one of them,
        like a Kafka consumer group); without a group every subscriber gets every envelope.

        ``sole``: the group's only reader, by arrangement (the orchestrator, one per database):
        it reads every envelope and its position is kept under ``group``, but it does not join
        the group, so it starts at once (no wait for a dead predecessor's session, no
        rebalance). Two sole readers of one group would each read everything."""
        ...

    async def close(self) -> None: ...


class _QueueSubscription:
    def __init__(self, owner: InProcessTransport, topic: str, group: str | None,
                 sole: bool = False) -> None:
        self._owner = owner
        self._topic = topic
        self.group = group
        self.sole = sole
        self.queue: asyncio.Queue[EnvelopeModel | None] = asyncio.Queue()
        self.handed = 0
        self.on_records_lost: Callable[[], None] | None = None

    async def __anext__(self) -> EnvelopeModel:
        item = await self.queue.get()
        if item is None:
            self.queue.put_nowait(None)  # closed: every later read ends too
            raise StopAsyncIteration
        return item

    def __aiter__(self) -> _QueueSubscription:
        return self

    async def start(self) -> None:
        """Nothing to connect: the subscription receives from its creation on."""

    async def next_delivery(self) -> Delivery:
        envelope = await self.__anext__()
        self.handed += 1
        return Delivery(envelope, 0, self.handed - 1, self._topic)

    def ack(self, delivery: Delivery) -> None:
        """No offsets in process: nothing to commit."""

    async def lag(self) -> int:
        return self.queue.qsize()

    async def caught_up(self, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.queue.empty():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

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
            if sub.group is None or sub.sole:
                sub.queue.put_nowait(envelope)
            else:
                groups[sub.group].append(sub)
        for group, members in groups.items():
            turn = self._turns[(topic, group)]
            self._turns[(topic, group)] = turn + 1
            members[turn % len(members)].queue.put_nowait(envelope)

    def subscribe(self, topic: str, *, group: str | None = None,
                  sole: bool = False) -> _QueueSubscription:
        if self._closed:
            raise BusError("the in-process transport is closed")
        if sole and group is None:
            raise BusError("a sole reader needs a group")
        sub = _QueueSubscription(self, topic, group, sole)
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
