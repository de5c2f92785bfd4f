"""Lifecycle faults of ``cjgrade serve`` (real processes, real broker and PostgreSQL): SIGTERM,
SIGKILL and restart, a broker that is not up at start, a second instance."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.engine.ledger import BatchLedger
from cjgrade.store import Store, get_batch, open_store
from tests.api.test_serve import free_port, start_serve
from tests.distributed.broker import Broker
from tests.distributed.cluster import Cluster, make_spec
from tests.distributed.test_faults import (
    sim_options,
    start_worker_process,
    stop_worker_processes,
    wait_stored,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


class Serve:
    """One ``cjgrade serve --bootstrap`` process."""

    def __init__(self, pg_url: str, bootstrap: str, home: Path, *extra: str) -> None:
        self.port = free_port()
        self.proc = start_serve(["--port", str(self.port), "--database-url", pg_url,
                                 "--bootstrap", bootstrap, "--shutdown-timeout", "10", *extra],
                                home)
        self.err = ""

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2)
        except httpx.TransportError:
            return None

    async def until(self, path: str, check: Any, timeout_s: float = 60) -> dict[str, Any]:
        """Poll ``path`` until ``check(status, body)``; returns the body."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.finish()[-3000:]}")
            r = await asyncio.to_thread(self.get, path)
            if r is not None:
                last = (r.status_code, r.json())
                if check(*last):
                    return last[1]
            await asyncio.sleep(0.2)
        raise AssertionError(f"{path} never satisfied the check; last answer {last}")

    def finish(self, sig: int | None = None, timeout_s: float = 40) -> str:
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.err += err or ""
        return self.err


def ready(status: int, body: dict[str, Any]) -> bool:
    return status == 200 and body["checks"].get("orchestrator") == "ok"


async def lease_owner(store: Store, batch_uuid: str) -> str | None:
    async with store.transaction() as session:
        batch = await get_batch(session, batch_uuid)
    assert batch is not None
    return batch.lease_owner


async def test_sigterm_stops_serve_and_a_restart_resumes_at_once(broker, pg_url, tmp_path):
    """SIGTERM mid-batch: the API and the orchestrator stop, the lease is released and the
    process exits 0 within the shutdown bound; its logs are JSON. A new serve takes over the
    batch at once and completes it."""
    store = await open_store(pg_url)
    spec, abilities = make_spec(10, budget=80, round_size=10)
    cluster = Cluster(broker.bootstrap, store, abilities, latency_s=0.3)
    first = Serve(pg_url, broker.bootstrap, tmp_path)
    second: Serve | None = None
    try:
        await first.until("/readyz", ready)
        await cluster.start_worker()
        client = await cluster.transport()
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid, store=store) as watcher:
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            await wait_stored(store, batch_uuid, 20)  # a round refitted (and logged)
            started = time.monotonic()
            err = await asyncio.to_thread(first.finish, signal.SIGTERM)
            assert time.monotonic() - started < 35, "serve did not stop within its bound"
            assert first.proc.returncode == 0, err[-3000:]
            assert (await BatchLedger(store).load_batch(batch_uuid)).status == "running"
            assert await lease_owner(store, batch_uuid) is None, "lease not released"
            records = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
            assert any(r.get("event") == "round finished" for r in records)
            assert any(r.get("event") == "workers changed" and r["workers"] in (0, 1)
                       for r in records)
            assert any(r.get("logger", "").startswith("uvicorn") for r in records), (
                "uvicorn's lines are JSON too")
            second = Serve(pg_url, broker.bootstrap, tmp_path)
            restarted = time.monotonic()
            done = (await wait_stored(store, batch_uuid, 1))
            await wait_stored(store, batch_uuid, done + 10, timeout_s=60)
            assert time.monotonic() - restarted < 30
            out = await watcher.wait(timeout_s=120)
        assert out.status == "completed", out
        assert out.completed is not None and out.completed.n_succeeded == 80
        assert len(cluster.calls) == 80, "a comparison was judged twice"
    finally:
        await cluster.close()
        first.finish(signal.SIGKILL)
        if second is not None:
            second.finish(signal.SIGINT)
        await store.close()


async def test_sigkilled_serve_restarted_takes_its_batch_over_at_once(broker, pg_url, tmp_path):
    """SIGKILL mid-batch leaves the lease held by a dead process of this host: a restarted
    serve takes the batch over at once, not after the 120 s lease."""
    store = await open_store(pg_url)
    spec, abilities = make_spec(10, budget=60, round_size=10)
    cluster = Cluster(broker.bootstrap, store, abilities, latency_s=0.2)
    first = Serve(pg_url, broker.bootstrap, tmp_path)
    second: Serve | None = None
    try:
        await first.until("/readyz", ready)
        await cluster.start_worker()
        client = await cluster.transport()
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid, store=store) as watcher:
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            await wait_stored(store, batch_uuid, 10)
            first.finish(signal.SIGKILL)
            assert await lease_owner(store, batch_uuid) is not None
            done = await wait_stored(store, batch_uuid, 1)
            second = Serve(pg_url, broker.bootstrap, tmp_path)
            restarted = time.monotonic()
            await wait_stored(store, batch_uuid, done + 10, timeout_s=60)
            assert time.monotonic() - restarted < 30, "the dead process's lease was waited for"
            out = await watcher.wait(timeout_s=120)
        assert out.status == "completed", out
        rows = await BatchLedger(store).comparisons(batch_uuid)
        assert len(rows) == 60 and all(r.status == "succeeded" for r in rows)
    finally:
        await cluster.close()
        first.finish(signal.SIGKILL)
        if second is not None:
            second.finish(signal.SIGINT)
        await store.close()


async def test_broker_down_at_start_is_waited_for(pg_url, tmp_path):
    """No broker when serve starts: it stays up, /healthz is live, /readyz says unready and
    why, the log says it waits; once the broker is up, it becomes ready and runs a batch."""
    broker = Broker()  # not started yet
    serve = Serve(pg_url, broker.bootstrap, tmp_path)
    store = await open_store(pg_url)
    cluster: Cluster | None = None
    try:
        body = await serve.until("/readyz", lambda s, b: s == 503 and b["checks"].get(
            "orchestrator") == "waiting_for_broker")
        assert body["checks"]["broker"] == "unreachable" and body["checks"]["database"] == "ok"
        assert (await asyncio.to_thread(serve.get, "/healthz")).status_code == 200
        broker.start()
        await serve.until("/readyz", ready, timeout_s=60)
        spec, abilities = make_spec(8, budget=16, round_size=8)
        cluster = Cluster(broker.bootstrap, store, abilities)
        await cluster.start_worker()
        client = await cluster.transport()
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid, store=store) as watcher:
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            out = await watcher.wait(timeout_s=90)
        assert out.status == "completed"
    finally:
        if cluster is not None:
            await cluster.close()
        err = serve.finish(signal.SIGINT)
        broker.stop()
        await store.close()
    assert "broker not reachable; the orchestrator waits for it" in err


async def test_second_serve_stands_by_and_takes_over(broker, pg_url, tmp_path):
    """A second serve on the same database does not run a second orchestrator: it says so in
    its log and /readyz, rounds run at full speed (nothing re-dispatched), and it takes over
    when the first one dies."""
    store = await open_store(pg_url)
    first = Serve(pg_url, broker.bootstrap, tmp_path)
    second: Serve | None = None
    spec, abilities = make_spec(10, budget=40, round_size=10)
    cluster = Cluster(broker.bootstrap, store, abilities, latency_s=0.05)
    try:
        await first.until("/readyz", ready)
        second = Serve(pg_url, broker.bootstrap, tmp_path)
        await second.until("/readyz", lambda s, b: s == 200 and b["checks"].get(
            "orchestrator") == "ok (standby)")
        await cluster.start_worker()
        client = await cluster.transport()
        batch_uuid = str(uuid.uuid4())
        started = time.monotonic()
        async with AssessmentWatcher(client, batch_uuid, store=store) as watcher:
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            out = await watcher.wait(timeout_s=90)
        assert out.status == "completed"
        # Four rounds; a split results topic would wait 30 s (the re-dispatch time) per round.
        assert time.monotonic() - started < 30
        metrics = (await asyncio.to_thread(first.get, "/metrics")).text
        assert "cjgrade_comparisons_redispatched_total 0.0" in metrics
        first.finish(signal.SIGKILL)
        await second.until("/readyz", ready, timeout_s=30)
    finally:
        await cluster.close()
        first.finish(signal.SIGKILL)
        err = second.finish(signal.SIGINT) if second is not None else ""
        await store.close()
    assert "another orchestrator is active on this database" in err
    assert "taking over" in err


async def test_a_worker_that_leaves_stops_counting_in_the_capacity(broker, pg_url, tmp_path):
    """Rounds follow the cluster's capacity. When one of two worker processes stops, serve
    sees the workers' group without it (within a poll) and sizes rounds for the one left,
    instead of counting the gone worker for another minute."""
    store = await open_store(pg_url)
    spec, abilities = make_spec(10, budget=200, round_size=None)
    options = sim_options(tmp_path, abilities, latency_s=1.0)
    procs = [start_worker_process(broker.bootstrap, options, tmp_path / f"w{i}.log")
             for i in range(2)]
    serve = Serve(pg_url, broker.bootstrap, tmp_path)
    try:
        await serve.until("/readyz", ready)
        client = await Cluster(broker.bootstrap, store, abilities).transport()
        batch_uuid = str(uuid.uuid4())
        try:
            async with AssessmentWatcher(client, batch_uuid, store=store) as watcher:
                await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
                await wait_stored(store, batch_uuid, 40)  # both workers answered
                procs[0].send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(procs[0].wait, 30) == 0
                out = await watcher.wait(timeout_s=120)
        finally:
            await client.close()
        assert out.status == "completed", out
    finally:
        stop_worker_processes(procs)
        err = serve.finish(signal.SIGTERM)
        await store.close()
    records = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    sizes = [(r["round_size"], r["capacity"]) for r in records if r.get("event") == "round size"]
    assert (16, 16) in sizes, sizes  # a wave of both workers' 8 slots
    assert sizes[-1] == (8, 8), sizes
