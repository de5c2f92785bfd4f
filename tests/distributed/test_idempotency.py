"""Idempotent handlers: duplicates on the bus never store or judge anything twice."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from cjgrade.bus.events import (
    ComparisonCompletedV1,
    ComparisonRequestedV1,
    EnvelopeModel,
    JudgeRequestData,
    make_envelope,
)
from cjgrade.bus.kafka import KafkaTransport
from cjgrade.distributed import ComparisonWorker, WorkerConfig, WorkerJudges
from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.engine.ledger import BatchLedger
from cjgrade.judges import get_judge
from cjgrade.judges.base import JudgeRequest
from cjgrade.store import open_store
from tests.distributed.cluster import FAST, Cluster, CountingJudge, make_spec

pytestmark = [pytest.mark.kafka]


class DuplicatingTransport:
    """Publishes every ``comparison.completed`` twice (an at-least-once bus at its worst)."""

    def __init__(self, inner: KafkaTransport) -> None:
        self.inner = inner

    async def publish(self, topic: str, envelope: EnvelopeModel) -> None:
        await self.inner.publish(topic, envelope)
        if topic == ComparisonCompletedV1.TOPIC:
            await self.inner.publish(topic, envelope)

    def subscribe(self, topic: str, *, group: str | None = None,  # type: ignore[no-untyped-def]
                  sole: bool = False):
        return self.inner.subscribe(topic, group=group, sole=sole)

    async def close(self) -> None:
        await self.inner.close()


@pytest.mark.postgres
async def test_duplicated_results_are_stored_once(broker, pg_url):
    """Every result published twice: the batch completes and each outcome is stored once."""
    store = await open_store(pg_url)
    spec, abilities = make_spec(8, budget=24, round_size=8)
    cluster = Cluster(broker.bootstrap, store, abilities)
    try:
        await cluster.start_orchestrator()
        worker_transport = DuplicatingTransport(await cluster.transport())
        worker = ComparisonWorker(worker_transport,  # type: ignore[arg-type]
                                  WorkerJudges(factory=cluster._judge), WorkerConfig(),
                                  metrics=cluster.metrics)
        cluster.workers.append((worker, asyncio.ensure_future(worker.run())))
        client = await cluster.transport()
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid) as watcher:
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            out = await watcher.wait(timeout_s=60)
        assert out.status == "completed"
        assert out.duplicates >= 24, "the duplicates did reach the bus"
        rows = await BatchLedger(store).comparisons(batch_uuid)
        assert len(rows) == 24 and all(r.status == "succeeded" for r in rows)
        assert cluster.metrics.stored.labels("succeeded")._value.get() == 24
        assert out.completed is not None and out.completed.n_succeeded == 24
        assert len(cluster.calls) == 24
    finally:
        await cluster.close()
        await store.close()


def _request(batch_uuid: str, comparison_id: int) -> EnvelopeModel:
    data = JudgeRequestData(system_prompt="", student_prompt="", instructions="Pick one.",
                            rubric="", essay_a="first essay", essay_b="second essay")
    event = ComparisonRequestedV1(batch_uuid=batch_uuid, comparison_id=comparison_id, round=0,
                                  slot=0, judge="scripted/default", request=data)
    return make_envelope(event)


async def test_redelivered_request_is_not_judged_twice(broker):
    """A request delivered three times is judged once and answered each time, identically."""
    calls: list[JudgeRequest] = []

    def factory(name: str):  # type: ignore[no-untyped-def]
        return CountingJudge(get_judge(name, options={"default": "A"}), calls)

    worker_transport = await KafkaTransport(broker.bootstrap, **FAST).start()  # type: ignore[arg-type]
    client = await KafkaTransport(broker.bootstrap, **FAST).start()  # type: ignore[arg-type]
    worker = ComparisonWorker(worker_transport, WorkerJudges(factory=factory), WorkerConfig())
    task = asyncio.ensure_future(worker.run())
    results = client.subscribe(ComparisonCompletedV1.TOPIC)
    await results.start()
    try:
        batch_uuid = str(uuid.uuid4())
        request = _request(batch_uuid, 41)
        await client.publish(ComparisonRequestedV1.TOPIC, request)
        first = await asyncio.wait_for(results.__anext__(), 30)
        await client.publish(ComparisonRequestedV1.TOPIC, request)  # redelivery after an answer
        await client.publish(ComparisonRequestedV1.TOPIC, _request(batch_uuid, 41))  # re-dispatch
        again = [await asyncio.wait_for(results.__anext__(), 30) for _ in range(2)]
        assert len(calls) == 1
        assert worker.judged == 1 and worker.replayed == 2
        for env in again:
            assert env.event_id == first.event_id and env.data == first.data
        assert first.data["comparison_id"] == 41 and first.data["winner"] == "A"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await results.close()
        await worker_transport.close()
        await client.close()
