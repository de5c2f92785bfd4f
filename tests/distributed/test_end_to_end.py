"""End to end: client -> broker -> orchestrator -> workers -> PostgreSQL, all real."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cjgrade.bus.events import ComparisonCompletedV1
from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.engine.ledger import BatchLedger
from cjgrade.store import open_store
from tests.distributed.cluster import Cluster, make_spec

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def committed_to_end(bootstrap: str, group: str, topic: str, timeout_s: float = 30) -> None:
    """Wait until ``group``'s committed offsets on ``topic`` equal the topic's end offsets (read
    with a consumer of that group that never joins it)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            behind = {tp: (c, end) for tp, end in ends.items()
                      if end and ((c := await consumer.committed(tp)) is None or c < end)}
            if not behind:
                return
            assert loop.time() < deadline, f"offsets not committed: {behind}"
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


async def test_batch_completes_with_every_comparison_stored_once(broker, pg_url):
    """Orchestrator + 2 workers finish a submitted batch; each comparison judged and stored once."""
    store = await open_store(pg_url)
    spec, abilities = make_spec(10, budget=40, round_size=10)
    cluster = Cluster(broker.bootstrap, store, abilities)
    try:
        await cluster.start_orchestrator()
        await cluster.start_worker()
        await cluster.start_worker()
        client = await cluster.transport()
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid) as watcher:
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            out = await watcher.wait(timeout_s=60)
        assert out.status == "completed", out
        assert out.result is not None and len(out.result.essays) == 12
        rows = await BatchLedger(store).comparisons(batch_uuid)
        assert len(rows) == 40
        assert all(r.status == "succeeded" for r in rows)
        assert len({(r.round, r.slot) for r in rows}) == 40
        assert len(cluster.calls) == 40, "a comparison was judged twice"
        assert set(out.comparisons) == {r.id for r in rows}
        assert cluster.metrics.stored.labels("succeeded")._value.get() == 40
        # Every result record was acknowledged once stored: the orchestrator group's committed
        # offsets reach the end of the results topic (nothing would be redelivered).
        await committed_to_end(broker.bootstrap, "cjgrade-orchestrator",
                               ComparisonCompletedV1.TOPIC)
    finally:
        await cluster.close()
        await store.close()
