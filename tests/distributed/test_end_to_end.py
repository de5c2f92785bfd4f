"""End to end: client -> broker -> orchestrator -> workers -> PostgreSQL, all real."""

from __future__ import annotations

import uuid

import pytest

from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.engine.ledger import BatchLedger
from cjgrade.store import open_store
from tests.distributed.cluster import Cluster, make_spec

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


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
    finally:
        await cluster.close()
        await store.close()
