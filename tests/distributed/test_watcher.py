"""The documented watcher: a slow reader of the results topic still gets every comparison
(events on different topics are not ordered: the completion may be read first), and with the
store it gets a completion the bus lost."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from cjgrade.bus.events import BatchCompletedV1, ComparisonCompletedV1
from cjgrade.bus.kafka import KafkaTransport
from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.engine.ledger import BatchLedger
from cjgrade.store import open_store
from tests.distributed.cluster import Cluster, make_spec

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


class SlowReads:
    """A subscription that waits ``delay_s`` before each read (a loaded client)."""

    def __init__(self, inner: Any, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def __aiter__(self) -> SlowReads:
        return self

    async def __anext__(self) -> Any:
        await asyncio.sleep(self.delay_s)
        return await self.inner.__anext__()

    def __getattr__(self, name: str) -> Any:  # start, caught_up, close, ... of the inner one
        return getattr(self.inner, name)


class NothingArrives(SlowReads):
    """A subscription whose records never reach the reader (a bus that lost them)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner, 0.0)

    async def __anext__(self) -> Any:
        while True:
            await self.inner.__anext__()  # read and dropped


class ClientTransport:
    """The client's transport: results read slowly; the batch's completion never arrives
    (``drop_completion``: a bus that lost it)."""

    def __init__(self, inner: KafkaTransport, *, delay_s: float = 0.0,
                 drop_completion: bool = False) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.drop_completion = drop_completion

    async def publish(self, topic: str, envelope: Any) -> None:
        await self.inner.publish(topic, envelope)

    def subscribe(self, topic: str, *, group: str | None = None, sole: bool = False) -> Any:
        sub = self.inner.subscribe(topic, group=group, sole=sole)
        if self.drop_completion and topic == BatchCompletedV1.TOPIC:
            return NothingArrives(sub)
        return SlowReads(sub, self.delay_s) if topic == ComparisonCompletedV1.TOPIC else sub

    async def close(self) -> None:
        await self.inner.close()


async def test_slow_results_reader_still_gets_every_comparison(broker, pg_url):
    """The results are read slower than they come, so the completion is read while results
    are still unread: the watcher reads them to the end of the topic before returning."""
    store = await open_store(pg_url)
    spec, abilities = make_spec(10, budget=40, round_size=20)
    cluster = Cluster(broker.bootstrap, store, abilities, latency_s=0.01)
    try:
        await cluster.start_orchestrator()
        await cluster.start_worker(concurrency=16)
        client = ClientTransport(await cluster.transport(), delay_s=0.1)
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid) as watcher:  # type: ignore[arg-type]
            await submit_assessment(client, store, spec,  # type: ignore[arg-type]
                                    batch_uuid=batch_uuid)
            out = await watcher.wait(timeout_s=90)
        assert out.status == "completed"
        rows = await BatchLedger(store).comparisons(batch_uuid)
        assert set(out.comparisons) == {r.id for r in rows} and len(rows) == 40
        assert out.from_store == 0, "read from the bus, not the store"
    finally:
        await cluster.close()
        await store.close()


async def test_completion_lost_by_the_bus_is_read_from_the_store(broker, pg_url):
    """The completion never reaches the client: with the store, the watcher finds it (and the
    result) there, marked as read from the store."""
    store = await open_store(pg_url)
    spec, abilities = make_spec(8, budget=16, round_size=8)
    cluster = Cluster(broker.bootstrap, store, abilities)
    try:
        await cluster.start_orchestrator()
        await cluster.start_worker()
        client = ClientTransport(await cluster.transport(), drop_completion=True)
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid, store=store,  # type: ignore[arg-type]
                                     poll_s=1.0) as watcher:
            await submit_assessment(client, store, spec,  # type: ignore[arg-type]
                                    batch_uuid=batch_uuid)
            out = await watcher.wait(timeout_s=90)
        assert out.status == "completed" and out.completed is not None
        assert out.completed.n_succeeded == 16 and out.result is not None
        assert out.from_store >= 1 and len(out.comparisons) == 16
    finally:
        await cluster.close()
        await store.close()
