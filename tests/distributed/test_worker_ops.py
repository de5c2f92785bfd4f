"""Operating workers: health and readiness endpoints, settings from the environment, SIGTERM,
and a batch's ``base_url`` reaching the workers (a self-hosted OpenAI-compatible model)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from cjgrade.distributed import ComparisonWorker, WorkerConfig, WorkerJudges
from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.engine.ledger import BatchLedger
from cjgrade.errors import ConfigError
from cjgrade.store import open_store
from tests.api.test_serve import free_port
from tests.distributed.cluster import Cluster, make_spec
from tests.distributed.test_faults import CJGRADE
from tests.judges.fakes import openai_api
from tests.judges.fakes.truth import read_essays

pytestmark = [pytest.mark.kafka]


def _get(port: int, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
    except httpx.TransportError:
        return None


async def _until(port: int, path: str, status: int, proc: subprocess.Popen[bytes],
                 timeout_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the worker exited"
        r = await asyncio.to_thread(_get, port, path)
        if r is not None and r.status_code == status:
            return r
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} never answered {status}")


async def test_worker_health_readiness_env_settings_and_sigterm(broker, tmp_path: Path):
    """A worker configured only through the environment serves /healthz, /readyz (unready
    until it consumes) and /metrics on its port, 404 elsewhere; SIGTERM stops it, exit 0;
    its log lines are JSON."""
    port = free_port()
    options = tmp_path / "judges.json"
    options.write_text(json.dumps({"sim/bt": {"abilities": {}, "latency_s": 0.01}}))
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
           "CJGRADE_WORKER_METRICS_PORT": str(port), "CJGRADE_WORKER_CONCURRENCY": "3",
           "CJGRADE_WORKER_JUDGE_OPTIONS": str(options),
           "CJGRADE_WORKER_JUDGE_ALLOW": "sim/* scripted/*"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen([CJGRADE, "worker"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        await _until(port, "/healthz", 200, proc)
        ready = (await _until(port, "/readyz", 200, proc)).json()
        assert ready == {"status": "ready", "checks": {"broker": "ok", "consuming": "ok"}}
        assert "cjgrade_worker_in_flight" in (await asyncio.to_thread(_get, port,
                                                                      "/metrics")).text
        assert (await asyncio.to_thread(_get, port, "/anything")).status_code == 404
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=40)
        assert time.monotonic() - started < 35
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    lines = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
    started_line = next(x for x in lines if x.get("event") == "worker started")
    assert started_line["concurrency"] == 3 and started_line["judges"] == ["sim/*", "scripted/*"]
    assert any(x.get("event") == "worker stopped" for x in lines)


def test_worker_refuses_a_server_it_was_not_allowed_to_call():
    """A request naming a base URL the worker's operator did not allow is refused with the
    flag to set (the worker would send its provider key there)."""
    judges = WorkerJudges(base_urls=["http://llm.internal:8000/*"])
    with pytest.raises(ConfigError, match="--allow-base-url"):
        judges.get("openai/gpt-4o-2024-11-20", base_url="https://elsewhere.example/v1")


@pytest.mark.postgres
async def test_base_url_of_a_batch_reaches_the_workers(broker, pg_url, monkeypatch):
    """A batch for an OpenAI-compatible server (the wire-level fake) runs in distributed mode:
    the worker calls the batch's base_url, with its own key, and the batch completes."""
    pytest.importorskip("openai")
    monkeypatch.setenv("OPENAI_API_KEY", openai_api.VALID_KEY)
    store = await open_store(pg_url)
    spec, abilities = make_spec(6, budget=10, round_size=5)
    with openai_api.FakeOpenAI() as server:
        def answer(body: dict[str, object]) -> openai_api.Reply:
            a, b = read_essays(str(body["messages"][1]["content"]))  # type: ignore[index]
            return openai_api.verdict_reply("A" if a >= b else "B", 4)

        server.responder = answer
        base_url = f"{server.url}/v1"
        spec = dataclasses.replace(spec, judge="openai/gpt-4o-2024-11-20", base_url=base_url)
        cluster = Cluster(broker.bootstrap, store, abilities)
        try:
            await cluster.start_orchestrator()
            transport = await cluster.transport()
            worker = ComparisonWorker(
                transport, WorkerJudges(base_urls=[f"{server.url}/*"], concurrency=4),
                WorkerConfig(concurrency=4), metrics=cluster.metrics)
            cluster.workers.append((worker, asyncio.ensure_future(worker.run())))
            client = await cluster.transport()
            batch_uuid = str(uuid.uuid4())
            async with AssessmentWatcher(client, batch_uuid, store=store) as watcher:
                await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
                out = await watcher.wait(timeout_s=90)
        finally:
            await cluster.close()
        assert out.status == "completed", out
        rows = await BatchLedger(store).comparisons(batch_uuid)
        assert len(rows) == 10 and all(r.status == "succeeded" for r in rows)
        assert {r.provider for r in rows} == {"openai"}
        # Every verdict came from the fake server (a pair asked twice may come from the
        # worker's response cache, flagged "cached").
        fresh = [r for r in rows if "cached" not in r.flags]
        assert len(server.chat_requests()) == len(fresh) > 0
    await store.close()
