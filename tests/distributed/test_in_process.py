"""The production dispatcher and worker over the in-process transport (no broker): a batch on
two workers, duplicated results, a round nobody answers until a worker starts, the store check
before judging, and the subscription protocol of the in-process transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cjgrade.bus import ComparisonCompletedV1, ComparisonRequestedV1, InProcessTransport
from cjgrade.bus.events import BatchFailedV1, make_envelope
from cjgrade.distributed import (
    ComparisonWorker,
    DurableBusDispatcher,
    ResultRouter,
    WorkerConfig,
    WorkerJudges,
)
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.distributed.orchestrator import TimedBatchEngine
from cjgrade.distributed.service import StoredOutcomes
from cjgrade.engine.ledger import BatchLedger
from cjgrade.errors import BusError
from cjgrade.judges import get_judge
from cjgrade.judges.base import JudgeRequest
from cjgrade.store import Store, open_store
from tests.distributed.cluster import CountingJudge
from tests.engine.conftest import make_spec, true_order_verdict


class DuplicatingTransport(InProcessTransport):
    """Delivers every comparison result twice (at-least-once delivery, as Kafka may)."""

    async def publish(self, topic: str, envelope):  # type: ignore[no-untyped-def]
        await super().publish(topic, envelope)
        if topic == ComparisonCompletedV1.TOPIC:
            await super().publish(topic, envelope)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'dist.sqlite3'}")
    yield s
    await s.close()


def _judges(calls: list[JudgeRequest]) -> WorkerJudges:
    return WorkerJudges(factory=lambda name: CountingJudge(
        get_judge("scripted", options={"default": true_order_verdict}), calls))


def _engine(store: Store, transport: InProcessTransport, metrics: DistributedMetrics,
            redispatch_after_s: float = 30.0) -> tuple[TimedBatchEngine, ResultRouter]:
    router = ResultRouter(transport, BatchLedger(store), metrics)
    dispatcher = DurableBusDispatcher(transport, router, redispatch_after_s=redispatch_after_s,
                                      metrics=metrics)
    return TimedBatchEngine(store, dispatcher, transport=transport, metrics=metrics), router


async def test_batch_runs_on_two_workers_and_duplicates_are_stored_once(store: Store) -> None:
    """Two workers in one group share the requests; every result delivered twice is stored
    once and each comparison judged once."""
    transport = DuplicatingTransport()
    metrics = DistributedMetrics()
    calls: list[JudgeRequest] = []
    workers = [ComparisonWorker(transport, _judges(calls), WorkerConfig(concurrency=2))
               for _ in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(w.run(stop)) for w in workers]
    engine, router = _engine(store, transport, metrics)
    routing = asyncio.ensure_future(router.run())
    try:
        spec = make_spec(n_students=8, budget=30, target_reliability=None, stability_threshold=None)
        result = await engine.run(await engine.create(spec))
    finally:
        stop.set()
        judged = await asyncio.gather(*tasks)
        routing.cancel()
        await asyncio.gather(routing, return_exceptions=True)
    assert result.status == "completed"
    assert len(result.comparisons) == 30
    assert all(c.status == "succeeded" for c in result.comparisons)
    assert sum(judged) == 30 and min(judged) > 0 and len(calls) == 30
    assert len(transport.events(ComparisonCompletedV1.TOPIC)) == 60
    assert metrics.stored.labels("succeeded")._value.get() == 30


async def _round_published_to_nobody(
    store: Store, transport: InProcessTransport, metrics: DistributedMetrics, *,
    redispatch_after_s: float,
) -> tuple[ResultRouter, asyncio.Future[None], str, asyncio.Future[Any]]:
    """A batch of one 6-comparison round running, its requests published with no worker to
    read them: (router, its routing task, batch uuid, the engine's task)."""
    engine, router = _engine(store, transport, metrics, redispatch_after_s=redispatch_after_s)
    routing = asyncio.ensure_future(router.run())
    spec = make_spec(n_students=6, budget=6, round_size=6, target_reliability=None,
                     stability_threshold=None)
    batch_uuid = await engine.create(spec)
    running = asyncio.ensure_future(engine.run(batch_uuid))
    while len(transport.events(ComparisonRequestedV1.TOPIC)) < 6:
        await asyncio.sleep(0.01)
    return router, routing, batch_uuid, running


async def test_unanswered_round_is_redispatched_and_recorded(store: Store) -> None:
    """No worker runs when the round is published: after ``redispatch_after_s`` the requests
    go out again (counted on each comparison), and a worker started meanwhile answers them."""
    transport = InProcessTransport()
    metrics = DistributedMetrics()
    calls: list[JudgeRequest] = []
    _, routing, batch_uuid, running = await _round_published_to_nobody(
        store, transport, metrics, redispatch_after_s=0.3)
    stop = asyncio.Event()
    try:
        worker = ComparisonWorker(transport, _judges(calls))
        judging = asyncio.ensure_future(worker.run(stop))
        result = await asyncio.wait_for(running, 30)
    finally:
        stop.set()
        routing.cancel()
        await asyncio.gather(routing, return_exceptions=True)
    await judging
    assert result.status == "completed" and len(calls) == 6
    assert metrics.redispatched._value.get() >= 6
    async with store.transaction() as session:
        from cjgrade.store import list_comparisons

        rows = await list_comparisons(session, batch_uuid)
    assert all(r.redispatches >= 1 for r in rows), [r.redispatches for r in rows]


async def test_lost_records_redispatch_at_once(store: Store) -> None:
    """When the results reader finds that the broker lost records (a broker back empty), the
    round's unanswered requests go out again at once, not after ``redispatch_after_s``."""
    transport = InProcessTransport()
    metrics = DistributedMetrics()
    calls: list[JudgeRequest] = []
    router, routing, _, running = await _round_published_to_nobody(
        store, transport, metrics, redispatch_after_s=600.0)
    stop = asyncio.Event()
    judging: asyncio.Future[int] | None = None
    try:
        worker = ComparisonWorker(transport, _judges(calls))
        judging = asyncio.ensure_future(worker.run(stop))
        await asyncio.sleep(0.05)  # the worker is subscribed
        assert router._sub.on_records_lost is not None
        router._sub.on_records_lost()
        result = await asyncio.wait_for(running, 30)
    finally:
        stop.set()
        routing.cancel()
        await asyncio.gather(routing, return_exceptions=True)
        if judging is not None:
            await judging
    assert result.status == "completed" and len(calls) == 6
    assert metrics.redispatched._value.get() == 6


async def test_worker_skips_a_request_whose_outcome_is_stored(store: Store) -> None:
    """With the store, a worker does not judge a comparison that already has an outcome."""
    transport = InProcessTransport()
    metrics = DistributedMetrics()
    calls: list[JudgeRequest] = []
    engine, router = _engine(store, transport, metrics)
    routing = asyncio.ensure_future(router.run())
    first = ComparisonWorker(transport, _judges(calls))
    stop = asyncio.Event()
    judging = asyncio.ensure_future(first.run(stop))
    spec = make_spec(n_students=4, budget=4, round_size=4, target_reliability=None,
                     stability_threshold=None)
    try:
        batch_uuid = await engine.create(spec)
        await engine.run(batch_uuid)
    finally:
        stop.set()
        await judging
    # Every request delivered again to a fresh worker (no memory) that checks the store.
    second = ComparisonWorker(transport, _judges(calls), outcomes=StoredOutcomes(store))
    stop2 = asyncio.Event()
    judging = asyncio.ensure_future(second.run(stop2))
    before = len(calls)
    try:
        await asyncio.sleep(0)
        for envelope in transport.events(ComparisonRequestedV1.TOPIC):
            await transport.publish(ComparisonRequestedV1.TOPIC, envelope)
        for _ in range(200):
            if second.skipped_stored == 4:
                break
            await asyncio.sleep(0.01)
    finally:
        stop2.set()
        await judging
        routing.cancel()
        await asyncio.gather(routing, return_exceptions=True)
    assert second.skipped_stored == 4 and len(calls) == before


async def test_in_process_subscription_protocol() -> None:
    """The in-process subscription offers the whole protocol: deliveries, a no-op ack, lag,
    caught-up, and StopAsyncIteration once closed."""
    transport = InProcessTransport()
    sub = transport.subscribe(BatchFailedV1.TOPIC)
    await sub.start()
    envelope = make_envelope(BatchFailedV1(batch_uuid="b", reason="r"))
    await transport.publish(BatchFailedV1.TOPIC, envelope)
    await transport.publish(BatchFailedV1.TOPIC, envelope)
    assert await sub.lag() == 2
    assert not await sub.caught_up(timeout_s=0.05)
    first = await sub.next_delivery()
    sub.ack(first)
    assert first.envelope == envelope and first.topic == BatchFailedV1.TOPIC
    assert await anext(sub) == envelope
    assert await sub.caught_up(timeout_s=0.05) and await sub.lag() == 0
    await sub.close()
    with pytest.raises(StopAsyncIteration):
        await sub.next_delivery()


async def test_in_process_sole_reader_gets_every_envelope_of_its_group() -> None:
    """As on Kafka: two members of a group share the envelopes; a sole reader of that group
    (the orchestrator's subscriptions) gets each of them; a sole reader needs a group."""
    transport = InProcessTransport()
    members = [transport.subscribe(BatchFailedV1.TOPIC, group="g") for _ in range(2)]
    sole = transport.subscribe(BatchFailedV1.TOPIC, group="g", sole=True)
    for i in range(4):
        await transport.publish(BatchFailedV1.TOPIC,
                                make_envelope(BatchFailedV1(batch_uuid=f"b{i}", reason="r")))
    assert [await m.lag() for m in members] == [2, 2]
    assert await sole.lag() == 4
    with pytest.raises(BusError, match="group"):
        transport.subscribe(BatchFailedV1.TOPIC, sole=True)


async def test_router_feeds_each_of_a_batchs_two_streams(store: Store) -> None:
    """While rounds are pipelined a batch has two dispatch streams (the ending round and the
    next round's early part): each result goes to the stream waiting for it, and the
    dispatcher's capacity is what the workers declared."""
    transport = InProcessTransport()
    router = ResultRouter(transport, BatchLedger(store))
    ending, early = router.register("b", {1, 2}), router.register("b", {3})
    routing = asyncio.ensure_future(router.run())
    try:
        for cid in (1, 3, 2):
            await transport.publish(ComparisonCompletedV1.TOPIC, make_envelope(
                ComparisonCompletedV1(batch_uuid="b", comparison_id=cid, status="failed",
                                      error_code="X", error_reason="x", worker_id="w1",
                                      worker_concurrency=3)))
        for _ in range(200):
            if ending.queue.qsize() + early.queue.qsize() == 3:
                break
            await asyncio.sleep(0.01)
    finally:
        routing.cancel()
        await asyncio.gather(routing, return_exceptions=True)
    routed = {name: sorted(w.queue.get_nowait()[0].comparison_id for _ in range(w.queue.qsize()))
              for name, w in (("ending", ending), ("early", early))}
    assert routed == {"ending": [1, 2], "early": [3]}
    assert DurableBusDispatcher(transport, router).capacity() == 3


def _result(worker_id: str, concurrency: int, cid: int) -> object:
    return make_envelope(ComparisonCompletedV1(
        batch_uuid="b", comparison_id=cid, status="failed", error_code="X", error_reason="x",
        worker_id=worker_id, worker_concurrency=concurrency))


async def test_capacity_drops_a_worker_that_left_the_group(store: Store) -> None:
    """Capacity is the concurrency of the workers heard from; once the workers' group is
    seen without one of them, it no longer counts (not for 60 s more); a worker heard from
    after that snapshot counts; a group that cannot be matched (None) is not used."""
    transport = InProcessTransport()
    router = ResultRouter(transport, BatchLedger(store))
    routing = asyncio.ensure_future(router.run())
    try:
        for cid, (wid, c) in enumerate([("w1", 8), ("w2", 16)]):
            await transport.publish(ComparisonCompletedV1.TOPIC, _result(wid, c, cid))
        for _ in range(200):
            if router.capacity() == 24:
                break
            await asyncio.sleep(0.01)
        assert router.capacity() == 24
        router.workers_in_group({"w1"})
        assert router.capacity() == 8
        await transport.publish(ComparisonCompletedV1.TOPIC, _result("w3", 4, 7))
        for _ in range(200):
            if router.capacity() == 12:
                break
            await asyncio.sleep(0.01)
        assert router.capacity() == 12, "a worker heard after the snapshot counts"
        router.workers_in_group(None)
        assert router.capacity() == 28
    finally:
        routing.cancel()
        await asyncio.gather(routing, return_exceptions=True)


def test_worker_client_ids_name_the_worker() -> None:
    from cjgrade.distributed.worker import worker_client_id, worker_id_of

    assert worker_id_of(worker_client_id("host:12:ab")) == "host:12:ab"
    assert worker_id_of("cjgrade-worker") is None and worker_id_of("other") is None


async def test_a_round_nobody_answers_is_reported_once(store: Store) -> None:
    """No worker at all: after the second re-dispatch wait the stall is logged as an error,
    once, naming the comparisons that wait (not dressed as a slow round)."""
    from structlog.testing import capture_logs

    transport = InProcessTransport()
    metrics = DistributedMetrics()
    with capture_logs() as logs:
        _, routing, batch_uuid, running = await _round_published_to_nobody(
            store, transport, metrics, redispatch_after_s=0.05)
        try:
            await asyncio.sleep(0.5)  # about ten waits
        finally:
            for task in (running, routing):
                task.cancel()
            await asyncio.gather(running, routing, return_exceptions=True)
    errors = [e for e in logs if e["log_level"] == "error"
              and e["event"].startswith("no result for a round's requests")]
    assert len(errors) == 1, errors
    assert errors[0]["batch_uuid"] == batch_uuid and errors[0]["n"] == 6
    assert metrics.stalled_rounds._value.get() == 1
