"""The operator's path end to end on the real broker and PostgreSQL: `cjgrade serve --bootstrap`
(API + orchestrator) and a `cjgrade worker` process whose sim/bt abilities come from
`cjgrade judges sim-abilities`; the batch is submitted, watched and exported with
`cjgrade batches`, and its artefact is valid against the schema."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.live_server import create_tokens
from tests.api.test_serve import free_port, start_serve
from tests.cli.test_batches_cli import check_export, cli, sample_folder
from tests.distributed.conftest import broker  # noqa: F401
from tests.store.fixtures import _db_templates, pg_url  # noqa: F401

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

CJGRADE = str(Path(sys.executable).with_name("cjgrade"))


def check_export_artefact(folder: Path) -> dict[str, object]:
    from cjgrade.reports import load_artefact, validate_artefact

    doc = load_artefact(folder)
    validate_artefact(doc)
    assert doc["metadata"]["mode"] == "distributed"
    return doc


def wait_healthy(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(proc.stderr.read() if proc.stderr and proc.poll() is not None
                         else "serve did not answer /healthz")


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


@contextlib.contextmanager
def running_cluster(broker_bootstrap: str, pg_url: str, tmp_path: Path, monkeypatch: Any,  # noqa: F811
                    capsys: Any, *, latency_s: float) -> Iterator[Cluster]:
    """`cjgrade serve --bootstrap` and one `cjgrade worker` process whose sim/bt abilities come
    from `cjgrade judges sim-abilities` on the sample folder (anchors by grade, students spread
    between them)."""
    for var in ("DATABASE_URL", "CJGRADE_API_URL", "CJGRADE_TOKEN", "CJGRADE_CONFIG",
                "KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path / "home"))
    folder = sample_folder(tmp_path, budget=48)
    names = sorted(p.name for p in (folder / "anchors").iterdir())
    rows = [f"{n},{i - 4}" for i, n in enumerate(names)]
    rows += [f"student_{i:02d}.txt,{(i - 8) / 3:.3f}" for i in range(1, 17)]
    scores = tmp_path / "scores.csv"
    scores.write_text("essay,ability\n" + "\n".join(rows) + "\n")
    code, out, err = cli(["judges", "sim-abilities", str(folder), "--scores", str(scores)],
                         capsys)
    assert code == 0, err
    options = tmp_path / "judges.json"
    data = json.loads(out)
    data["sim/bt"].update(seed=5, latency_s=latency_s)
    options.write_text(json.dumps(data))
    tokens = create_tokens(pg_url)
    port = free_port()
    serve = start_serve(["--port", str(port), "--database-url", pg_url, "--bootstrap",
                         broker_bootstrap], tmp_path)
    worker_log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [CJGRADE, "worker", "--bootstrap", broker_bootstrap, "--concurrency", "8",
         "--judge-options", str(options), "--judge-allow", "sim/*"],
        stdout=subprocess.DEVNULL, stderr=worker_log.open("wb"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_healthy(serve, port)
        api = ["--api-url", f"http://127.0.0.1:{port}", "--token", tokens["runner"]]
        yield Cluster(folder, api, {r.split(",")[0]: float(r.split(",")[1]) for r in rows},
                      worker_log)
    finally:
        stop(worker, signal.SIGTERM)
        stop(serve, signal.SIGINT)


@dataclass
class Cluster:
    folder: Path
    api: list[str]
    """``--api-url`` and ``--token`` (runner) of the server."""
    truth: dict[str, float]
    """True ability by file name."""
    worker_log: Path


def test_submit_watch_export_on_a_cluster(
    broker, pg_url: str, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with running_cluster(broker.bootstrap, pg_url, tmp_path, monkeypatch, capsys,
                         latency_s=0.05) as cluster:
        folder, api, truth, worker_log = (cluster.folder, cluster.api, cluster.truth,
                                          cluster.worker_log)
        code, out, err = cli(["batches", "submit", str(folder), "--judge", "sim/bt", *api],
                             capsys)
        assert code == 0, err
        assert "a simulation" in err  # the plan's warning, said by the server
        uuid = out.strip()
        code, out, err = cli(["batches", "watch", uuid, "--interval", "0.5", "--timeout", "180",
                              *api], capsys)
        assert code == 0, (err, worker_log.read_text()[-3000:])
        assert "completed" in out and "48/48" in out
        exported = tmp_path / "export"
        code, out, err = cli(["batches", "export", uuid, "--out", str(exported), *api], capsys)
        assert code == 0, err
        doc = check_export(exported, "distributed", 48)
        assert doc["metadata"]["judge"] == "sim/bt" and doc["metadata"]["status"] == "completed"
        assert all(c["status"] == "succeeded" for c in doc["comparisons"])
        # The workers judged with the abilities of the file: the truly better essay wins most
        # comparisons (about 80% expected at these ability gaps; wrong keys fail every call).
        file_of = {e["essay_id"]: e["file_name"] for e in doc["essays"]}
        agree = [truth[file_of[c["winner_id"]]] > truth[file_of[c["loser_id"]]]
                 for c in doc["comparisons"]]
        assert sum(agree) / len(agree) > 0.6
        # `cjgrade resume` on the finished distributed batch writes the same valid artefact
        # (it used to fail its schema check, exit 3: the batch had no input inventory).
        code, _, err = cli(["resume", uuid, "--database-url", pg_url, "--out",
                            str(tmp_path / "resumed")], capsys)
        assert code == 0, err
        resumed = check_export_artefact(tmp_path / "resumed")
        assert resumed["essays"] == doc["essays"] and resumed["inputs"] == doc["inputs"]


def test_cancel_on_a_cluster_stops_the_batch(
    broker, pg_url: str, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Cancelled once its first outcomes are in, a batch run by the orchestrator requests no
    further round: its comparisons stop growing, it stays cancelled, watch exits 8."""
    with running_cluster(broker.bootstrap, pg_url, tmp_path, monkeypatch, capsys,
                         latency_s=0.3) as cluster:
        code, out, err = cli(["batches", "submit", str(cluster.folder), "--judge", "sim/bt",
                              "--budget", "240", "--round-size", "16", *cluster.api], capsys)
        assert code == 0, err
        uuid = out.strip()
        deadline = time.monotonic() + 60
        while True:
            code, out, _ = cli(["batches", "show", uuid, "--json", *cluster.api], capsys)
            if json.loads(out)["comparisons_done"] > 0:
                break
            assert time.monotonic() < deadline, cluster.worker_log.read_text()[-2000:]
            time.sleep(0.2)
        code, out, _ = cli(["batches", "cancel", uuid, *cluster.api], capsys)
        assert code == 0 and "cancelled" in out
        # The round in flight is answered (its requests are out); then nothing more.
        while True:
            code, out, _ = cli(["batches", "show", uuid, "--json", *cluster.api], capsys)
            shown = json.loads(out)
            if shown["comparisons_pending"] == 0:
                break
            assert time.monotonic() < deadline + 60, shown
            time.sleep(0.2)
        requested = shown["comparisons_done"]
        time.sleep(3)
        code, out, _ = cli(["batches", "show", uuid, "--json", *cluster.api], capsys)
        later = json.loads(out)
        assert later["status"] == "cancelled"
        assert later["comparisons_done"] == requested and later["comparisons_pending"] == 0
        # A round or two of the 240 planned (a round is about 1 s here: it would have grown).
        assert 0 < requested <= 64
        code, out, _ = cli(["batches", "watch", uuid, *cluster.api], capsys)
        assert code == 8 and "cancelled" in out
