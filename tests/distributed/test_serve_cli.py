"""``cjgrade serve --bootstrap``: the real command runs the orchestrator beside the API."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.store import open_store
from tests.api.test_serve import free_port, start_serve
from tests.distributed.cluster import Cluster, make_spec

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _wait_healthy(proc, port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(proc.stderr.read() if proc.poll() is not None else "no answer")


async def test_serve_with_bootstrap_completes_a_submitted_batch(broker, pg_url, tmp_path: Path):
    """A batch submitted over Kafka completes while `cjgrade serve --bootstrap` runs (the
    orchestrator lives in the serve process; a worker judges); the start-up line says so."""
    port = free_port()
    proc = start_serve(
        ["--port", str(port), "--database-url", pg_url, "--bootstrap", broker.bootstrap], tmp_path
    )
    store = await open_store(pg_url)
    spec, abilities = make_spec(8, budget=16, round_size=8)
    cluster = Cluster(broker.bootstrap, store, abilities)
    try:
        _wait_healthy(proc, port)
        await cluster.start_worker()
        client = await cluster.transport()
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid) as watcher:
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            out = await watcher.wait(timeout_s=90)
        assert out.status == "completed"
    finally:
        await cluster.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=40)
        except Exception:
            proc.kill()
            _, err = proc.communicate()
    assert f"orchestrator on Kafka {broker.bootstrap}" in err


def test_serve_without_broker_says_no_orchestrator(pg_url, tmp_path: Path, monkeypatch):
    """Without a broker, serve runs the API only and its start-up line says so."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    port = free_port()
    proc = start_serve(["--port", str(port), "--database-url", pg_url], tmp_path)
    try:
        _wait_healthy(proc, port)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "no orchestrator (no Kafka broker set)" in err


@pytest.mark.parametrize("value", ["127.0.0.1:", "kafka-1", "kafka-1:9092,:9092", "h:99999",
                                   " "])
def test_a_malformed_bootstrap_is_refused_before_anything_starts(value: str) -> None:
    """A malformed broker address is a configuration error with the fix: before, the
    orchestrator's task died of a ValueError while the API went on accepting batches that
    then stayed 'created'."""
    from cjgrade.bus.kafka import KafkaTransport, check_bootstrap
    from cjgrade.errors import ConfigError

    with pytest.raises(ConfigError, match=r"HOST:PORT|no Kafka bootstrap"):
        check_bootstrap(value)
    with pytest.raises(ConfigError):
        KafkaTransport(value)


def test_well_formed_bootstraps_pass() -> None:
    from cjgrade.bus.kafka import check_bootstrap

    for value in ("127.0.0.1:9092", "kafka-1:9092,kafka-2:9093", "[::1]:9092"):
        assert check_bootstrap(value) == value


def test_serve_with_a_malformed_bootstrap_exits_2(pg_url, tmp_path: Path) -> None:
    proc = start_serve(["--port", str(free_port()), "--database-url", pg_url,
                        "--bootstrap", "127.0.0.1:"], tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "invalid Kafka bootstrap server '127.0.0.1:'" in err and "Traceback" not in err
