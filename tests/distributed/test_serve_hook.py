"""``attach_orchestrator``: the API app's lifespan runs the orchestrator (what ``serve`` does)."""

from __future__ import annotations

import uuid

import pytest

from cjgrade.config import load_settings
from cjgrade.distributed.service import attach_orchestrator
from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.errors import ConfigError
from cjgrade.store import open_store
from tests.distributed.cluster import Cluster, make_spec

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_hook_needs_a_broker():
    """Without --bootstrap or KAFKA_BOOTSTRAP_SERVERS the hook refuses with what to set."""
    settings = load_settings(env={}, database_url="sqlite:///x.sqlite3")
    with pytest.raises(ConfigError, match="KAFKA_BOOTSTRAP_SERVERS"):
        attach_orchestrator(settings)


async def test_api_lifespan_runs_the_orchestrator(broker, pg_url, tmp_path):
    """With the hook, a batch submitted over the bus completes while the API app is up, and
    the orchestrator's metrics are on the app's /metrics registry."""
    from cjgrade.api import create_app

    settings = load_settings(env={"CJGRADE_HOME": str(tmp_path)}, database_url=pg_url)
    app = create_app(settings, lifespan_hooks=[attach_orchestrator(settings,
                                                                   bootstrap=broker.bootstrap)])
    store = await open_store(pg_url)
    spec, abilities = make_spec(8, budget=16, round_size=8)
    cluster = Cluster(broker.bootstrap, store, abilities)
    try:
        async with app.router.lifespan_context(app):
            await cluster.start_worker()
            client = await cluster.transport()
            batch_uuid = str(uuid.uuid4())
            async with AssessmentWatcher(client, batch_uuid) as watcher:
                await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
                out = await watcher.wait(timeout_s=60)
            assert out.status == "completed"
            registry = app.state.metrics_registry
            assert registry.get_sample_value("cjgrade_comparisons_stored_total",
                                             {"status": "succeeded"}) == 16
    finally:
        await cluster.close()
        await store.close()
