"""The broker goes down mid-batch and comes back empty (memory storage): nothing is lost, the
watcher gets every comparison and the batch's end, topics come back with the configured
partitions, and what was done twice is on the record."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from cjgrade.bus.events import EVENT_MODELS, ComparisonCompletedV1, make_envelope
from cjgrade.bus.transport import DEFAULT_PARTITIONS, Delivery
from cjgrade.distributed.dispatcher import ResultRouter
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.engine.ledger import BatchLedger
from cjgrade.store import list_comparisons, open_store
from tests.distributed.cluster import Cluster, make_spec
from tests.distributed.test_faults import wait_stored

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def partition_counts(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(EVENT_MODELS))
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described}


async def test_broker_outage_loses_nothing_and_recreates_topics(broker, pg_url):
    """Broker down for a few seconds mid-batch, back with no topics: the batch completes, the
    watcher (with the store) has every comparison, the completion and the result, and every
    topic has the configured partitions again (not the broker's default of 4)."""
    store = await open_store(pg_url)
    spec, abilities = make_spec(10, budget=60, round_size=20)
    cluster = Cluster(broker.bootstrap, store, abilities, latency_s=0.1, redispatch_after_s=2.0)
    try:
        await cluster.start_orchestrator()
        await cluster.start_worker(concurrency=4)
        await cluster.start_worker(concurrency=4)
        client = await cluster.transport()
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid, store=store, poll_s=2.0) as watcher:
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            await wait_stored(store, batch_uuid, 10)
            broker.stop()
            await asyncio.sleep(4)  # the outage itself
            broker.start()
            out = await watcher.wait(timeout_s=120)
        assert out.status == "completed", out
        assert out.result is not None and out.completed is not None
        assert out.completed.n_succeeded == 60
        async with store.transaction() as session:
            rows = await list_comparisons(session, batch_uuid)
        assert len(rows) == 60 and all(r.status == "succeeded" for r in rows)
        assert set(out.comparisons) == {r.id for r in rows}, "a comparison event was lost"
        counts = await partition_counts(broker.bootstrap)
        assert set(counts.values()) == {DEFAULT_PARTITIONS}, counts
        extra_calls = len(cluster.calls) - 60
        recorded = sum(r.repeat_calls for r in rows)
        assert 0 <= recorded <= extra_calls
        if cluster.metrics.redispatched._value.get() > 0:
            assert sum(r.redispatches for r in rows) > 0
    finally:
        await cluster.close()
        await store.close()


async def test_second_judge_call_is_recorded_and_a_replay_is_not(broker, pg_url):
    """A result from a second judge call of a stored comparison (another event id) adds its
    requests, tokens and cost to the comparison and one repeat call, once however often it is
    delivered; the stored result's own event delivered again (a replay) adds nothing."""
    store = await open_store(pg_url)
    spec, abilities = make_spec(6, budget=6, round_size=6)
    cluster = Cluster(broker.bootstrap, store, abilities)
    try:
        await cluster.start_orchestrator()
        await cluster.start_worker()
        client = await cluster.transport()
        batch_uuid = str(uuid.uuid4())
        results = client.subscribe(ComparisonCompletedV1.TOPIC)
        await results.start()
        async with AssessmentWatcher(client, batch_uuid, store=store) as watcher:
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            out = await watcher.wait(timeout_s=60)
        assert out.status == "completed"
        envelope = None
        async for env in results:
            if env.key == batch_uuid:
                envelope = env
                break
        await results.close()
        assert envelope is not None
        event = envelope.event()
        assert isinstance(event, ComparisonCompletedV1)
        before = {r.id: r for r in await BatchLedger(store).comparisons(batch_uuid)}
        row = before[event.comparison_id]
        router = ResultRouter(client, BatchLedger(store), DistributedMetrics())
        second = make_envelope(event.model_copy(update={"input_tokens": 100,
                                                        "output_tokens": 7, "attempts": 2}))
        await router.note_duplicate(Delivery(envelope, 0, 0, ComparisonCompletedV1.TOPIC))
        await router.note_duplicate(Delivery(second, 0, 1, ComparisonCompletedV1.TOPIC))
        await router.note_duplicate(Delivery(second, 0, 2, ComparisonCompletedV1.TOPIC))
        after = {r.id: r for r in await BatchLedger(store).comparisons(batch_uuid)}
        changed = after[event.comparison_id]
        assert changed.repeat_calls == 1
        assert changed.attempts == row.attempts + 2
        assert changed.input_tokens == (row.input_tokens or 0) + 100
        assert all(after[i].repeat_calls == 0 for i in after if i != event.comparison_id)
    finally:
        await cluster.close()
        await store.close()


def test_the_commands_say_the_default_partition_count() -> None:
    """`serve --help` and `worker --help` state the transport's default partition count (kept
    out of the command modules, which must not import the bus to print their help)."""
    from typer.testing import CliRunner

    from cjgrade.cli.main import build_app

    for command in ("serve", "worker"):
        out = CliRunner().invoke(build_app(command), [command, "--help"],
                                 env={"COLUMNS": "200"}).output
        assert f"default {DEFAULT_PARTITIONS}" in " ".join(out.split()), out


async def test_close_returns_when_the_topic_watchdog_loses_its_cancellation(broker) -> None:
    """``close`` cancels the topic watchdog and waits for it. A cancellation lost in the
    watchdog's timed topic check left it looping and ``close`` waiting for good (the
    benchmark hung after its batch, once in about eight runs). The check now runs under
    ``asyncio.timeout``, which keeps the cancellation, and the loop also stops once the
    transport is closed."""
    from cjgrade.bus.kafka import KafkaTransport

    transport = await KafkaTransport(broker.bootstrap, client_id="close-test",
                                     watchdog_interval_s=0.05).start()
    checking = asyncio.Event()

    async def ensure_at_once(topics: list[str]) -> None:
        # Returns in the same step as it wakes the test, which then closes the transport: the
        # watchdog is cancelled just after its topic check finished and before it resumed.
        # ``asyncio.wait_for`` (3.11) returned the finished call's result there and dropped
        # the cancellation.
        checking.set()

    transport.ensure_topics = ensure_at_once  # type: ignore[method-assign]
    async with asyncio.timeout(10):
        await checking.wait()
    async with asyncio.timeout(5):
        await transport.close()
    assert transport._watchdog is not None and transport._watchdog.done()


async def test_a_sole_reader_reads_a_topic_the_broker_lost_from_its_start(broker):
    """The orchestrator reads its topics as their sole reader, with no group to re-form when
    the broker comes back empty: a position beyond a partition's new end is noticed and the
    partition read from its start (otherwise the reader waited until new records passed its
    old position; a batch stalled for minutes of re-dispatches after a 60 s outage)."""
    from aiokafka.errors import KafkaError

    from cjgrade.bus.kafka import KafkaTransport
    from cjgrade.errors import BusUnavailable
    from tests.distributed.test_idempotency import _request

    group = f"g-{uuid.uuid4().hex[:8]}"
    topic = f"test.lost.{group}"
    batch = str(uuid.uuid4())  # the key: every record in one partition
    client = await KafkaTransport(broker.bootstrap, client_id="client", topics=[topic]).start()
    reader = await KafkaTransport(broker.bootstrap, client_id="reader", topics=[topic],
                                  watchdog_interval_s=0.5).start()
    try:
        sub = reader.subscribe(topic, group=group, sole=True)
        await sub.start()
        for cid in range(5):
            await client.publish(topic, _request(batch, cid))
        async with asyncio.timeout(20):
            for _ in range(5):
                sub.ack(await sub.next_delivery())

        broker.stop()
        await asyncio.sleep(2)  # an outage the reader's watchdog sees
        broker.start()  # back with no topics
        # The topic is re-created first: Tansu accepts a record sent, with old metadata, to a
        # topic it no longer has, and it is never fetched (the bus re-dispatches such losses).
        async with asyncio.timeout(60):
            while True:
                try:
                    await client.ensure_topics([topic])
                    break
                except (BusUnavailable, KafkaError, OSError):
                    await asyncio.sleep(0.5)
        after = _request(batch, 99)
        await client.publish(topic, after)
        async with asyncio.timeout(30):
            delivery = await sub.next_delivery()
        assert delivery.envelope is not None
        assert delivery.envelope.event_id == after.event_id and delivery.offset == 0
    finally:
        await reader.close()
        await client.close()
