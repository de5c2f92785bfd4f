"""``eng5-np-run --mode execute --kafka-bootstrap``: a student-only batch on a real cluster.

A real Tansu broker, PostgreSQL, ``cjgrade serve``'s app (API plus the orchestrator, as its
lifespan hook) under uvicorn, and a worker with the ``sim/bt`` judge. The runner gets the API
URL, a runner token and the broker; no database URL.
"""

# ruff: noqa: F811 (the fixtures are imported from tests/runner/eng5/live_api.py)

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cjgrade.config import load_settings
from cjgrade.errors import BusError, ConfigError, InputError
from cjgrade.judges.sim import text_key
from cjgrade.runner.eng5 import exit_codes, remote
from cjgrade.runner.eng5.artefact import validate_runner_artefact
from cjgrade.runner.eng5.settings import Eng5Settings
from tests.runner.eng5.live_api import (  # noqa: F401
    INSTRUCTIONS,
    PROMPT,
    LiveApi,
    _db_templates,
    anchor_text,
    broker,
    create_assignment,
    isolate_env,
    pg_url,
    start_live_api,
    student_text,
    write_eng5_folder,
)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

GRADES = ("F+", "E-", "D+", "C+", "B", "A")
N_STUDENTS = 4


def _abilities() -> dict[str, float]:
    """True abilities for the sim judge, keyed as it looks texts up (SHA-256 of the text the
    worker receives)."""
    out: dict[str, float] = {}
    texts = [(anchor_text(g, i), i - 2.5) for i, g in enumerate(GRADES)]
    texts += [(student_text(i), i - 1.5) for i in range(N_STUDENTS)]
    for text, ability in texts:  # as registered (anchors) and as read from a file (students)
        out[text_key(text)] = out[text_key(text.strip())] = ability
    return out


@pytest.fixture
def cluster_api(pg_url: str, broker: Any, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveApi]:
    """``cjgrade serve`` as deployed: the API app with the orchestrator hook, on PostgreSQL and
    the broker."""
    from cjgrade.distributed import OrchestratorConfig
    from cjgrade.distributed.service import attach_orchestrator

    isolate_env(monkeypatch, tmp_path)
    home = tmp_path / "server-home"
    settings = load_settings(env={"CJGRADE_HOME": str(home)}, database_url=pg_url)
    hook = attach_orchestrator(settings, bootstrap=broker.bootstrap, config=OrchestratorConfig(
        redispatch_after_s=3.0, resume_interval_s=2.0, relay_poll_s=0.2))
    server, tokens = start_live_api(pg_url, home, lifespan_hooks=[hook])
    with server:
        api = LiveApi(server, tokens, pg_url)
        asyncio.run(_assignment_with_anchors(api))
        yield api


async def _assignment_with_anchors(api: LiveApi, anchors: bool = True) -> None:
    async with api.client() as admin:
        await create_assignment(admin)
        if anchors:
            for i, grade in enumerate(GRADES):
                await admin.register_anchor("np_2017_vt", grade, f"anchor_{i:03d}_{grade}",
                                            anchor_text(grade, i))


class Worker:
    """A ``cjgrade worker`` (sim judge) in a background thread with its own event loop."""

    def __init__(self, bootstrap: str, latency_s: float = 0.01,
                 abilities: dict[str, float] | None = None) -> None:
        import threading

        self.bootstrap, self.latency_s = bootstrap, latency_s
        self.abilities = abilities if abilities is not None else _abilities()
        self.calls: list[Any] = []
        """The judge requests the worker's judge received (what reached the 'provider')."""
        self.stop: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        from tests.distributed.cluster import Cluster

        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        cluster = Cluster(self.bootstrap, None, self.abilities,  # type: ignore[arg-type]
                          latency_s=self.latency_s, calls=self.calls)
        try:
            await cluster.start_worker()
            self.ready.set()
            await self.stop.wait()
        finally:
            await cluster.close()

    def __enter__(self) -> Worker:
        self.thread.start()
        assert self.ready.wait(30), "the worker did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.loop is not None and self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


def _settings(api: LiveApi, broker: Any, root: Path, out: Path, **flags: Any) -> Eng5Settings:
    values: dict[str, Any] = {
        "mode": "execute", "assignment_id": "np_2017_vt", "input_dir": root, "output_dir": out,
        "api_url": api.url, "api_token": api.tokens["runner"],
        "kafka_bootstrap": broker.bootstrap, "llm_provider": "sim", "llm_model": "bt",
        "max_comparisons": 24, "await_completion": True, "completion_timeout": 300,
        "batch_id": "cluster test", "llm_temperature": 0.0}
    values.update(flags)
    return Eng5Settings.from_flags(**values)


def _folder(tmp_path: Path) -> Path:
    return write_eng5_folder(tmp_path / "ROLE_MODELS_ENG5_NP_2016", {}, n_students=N_STUDENTS)


def test_execute_on_the_cluster_end_to_end(cluster_api: LiveApi, broker: Any, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root, out = _folder(tmp_path), tmp_path / "runs"
    settings = _settings(cluster_api, broker, root, out, llm_temperature=0.3,
                         llm_max_tokens=333, reasoning_effort="low", language="sv",
                         artefact_format="huleedu-1.0", auto_extract_eng5_db=True)
    with Worker(broker.bootstrap) as worker:
        code = remote.run(settings)
    printed = capsys.readouterr()
    assert code == exit_codes.OK, printed.out + printed.err
    # Every judge setting reached the worker's judge calls, with the assignment's texts.
    assert len(worker.calls) == 24
    for call in worker.calls:
        assert (call.settings.temperature, call.settings.max_tokens,
                call.settings.reasoning_effort) == (0.3, 333, "low")
        assert call.system_prompt.endswith("written in Swedish. Write your justification in "
                                           "Swedish.")
        assert call.student_prompt == PROMPT and call.instructions == INSTRUCTIONS
    run_dir = out / settings.batch_uuid
    doc = json.loads((run_dir / "assessment_run.execute.json").read_text())
    validate_runner_artefact(doc)
    meta = doc["metadata"]
    assert meta["batch_uuid"] == settings.batch_uuid and meta["status"] == "completed"
    assert meta["mode"] == "distributed" and meta["judge"] == "sim/bt"
    # Student-only: the folder sent students, the anchors are the registered ones.
    essays = {e["essay_id"]: e for e in doc["essays"]}
    assert sum(e["is_anchor"] for e in essays.values()) == len(GRADES)
    assert {e["anchor_grade"] for e in essays.values() if e["is_anchor"]} == set(GRADES)
    assert len([e for e in essays.values() if not e["is_anchor"]]) == N_STUDENTS
    assert doc["inputs"]["anchors"] == [] and len(doc["inputs"]["students"]) == N_STUDENTS
    assert doc["costs"]["n_comparisons"] == 24
    # The collector's view: every comparison once, completion and result, no partial data.
    status = doc["validation"]["runner_status"]
    assert status["partial_data"] is False and status["timeout_seconds"] is None
    assert status["observed_events"] == {"comparisons": 24, "assessment_results": 1,
                                         "completions": 1}
    manifest = {m["path"] for m in doc["validation"]["manifest"]}
    assert f"requests/assessment_request_{settings.batch_uuid}.json" in manifest
    assert f"events/completions/batch_completed_{settings.batch_uuid}.json" in manifest
    assert f"events/assessment_results/assessment_result_{settings.batch_uuid}.json" in manifest
    assert len([p for p in manifest if p.startswith("events/comparisons/")]) == 24
    # The request on the bus carries content ids (never texts) and the judge settings.
    request = json.loads((run_dir / "requests" / f"assessment_request_"
                          f"{settings.batch_uuid}.json").read_text())
    data = request["data"]
    assert request["key"] == settings.batch_uuid and data["assignment_id"] == "np_2017_vt"
    assert data["options"]["budget"] == 24 and data["options"]["temperature"] == 0.3
    assert all(len(e["content_sha256"]) == 64 for e in data["essays"])
    assert student_text(0).strip()[:30] not in json.dumps(request)
    assert doc["runner"]["cluster"]["upload_cache"]["uploaded"] == N_STUDENTS + 1  # + system
    # R5 with only a token: the extract is built from the artefact fetched through the API,
    # in the same shape as an embedded run's, and listed in the manifest.
    extract = doc["validation"]["post_run"]["eng5_db_extract"]
    assert extract["status"] == "succeeded", extract
    assert f"GET /v1/batches/{settings.batch_uuid}/artefact" in extract["source"]
    assert set(extract["files"]) <= manifest and len(extract["files"]) == 5
    rows = json.loads((run_dir / "db_extract" / f"cj_results_{settings.batch_uuid}.json"
                       ).read_text())
    assert set(rows) == {"batch_info", "comparisons", "essays", "rounds", "grade_projections"}
    assert len(rows["comparisons"]) == 24 and rows["batch_info"]["status"] == "completed"
    assert {p["essay_id"] for p in rows["grade_projections"]} == {
        e["essay_id"] for e in essays.values() if not e["is_anchor"]}
    assert rows["rounds"] and all("ssr" in r for r in rows["rounds"])
    assert "Canonical batch UUID: " + settings.batch_uuid in printed.err
    assert "Content upload cache: reused=0 uploaded=5" in printed.out
    assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file()
    legacy = json.loads((run_dir / "assessment_run.execute.huleedu-1.0.json").read_text())
    assert len(legacy["llm_comparisons"]) == 24  # validated against the original's schema
    _run_doc_recipes(run_dir / "assessment_run.execute.json")
    # A second run, through the CLI with the environment an operator sets, without waiting:
    # it reuses the uploads (checked on the server first: phase 3).
    from cjgrade.cli.eng5 import run_cli

    monkeypatch.setenv("CJGRADE_API_URL", cluster_api.url)
    monkeypatch.setenv("CJGRADE_TOKEN", cluster_api.tokens["runner"])
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    assert run_cli(["--mode", "execute", "--assignment-id", "np_2017_vt", "--input-dir",
                    str(root), "--output-dir", str(out), "--llm-provider", "sim",
                    "--llm-model", "bt", "--llm-temperature", "0.3", "--llm-max-tokens", "333",
                    "--reasoning-effort", "low", "--language", "sv",
                    "--max-comparisons", "24"]) == exit_codes.OK
    printed = capsys.readouterr().out
    assert "Content upload cache: reused=5 uploaded=0 missing_on_server=0" in printed
    (second_dir,) = [d for d in out.iterdir() if d.is_dir() and d.name != settings.batch_uuid]
    second = json.loads((second_dir / "assessment_run.execute.json").read_text())
    assert second["metadata"]["status"] == "running"
    assert second["metadata"]["stop_reason"] == "not_awaited"
    assert second["validation"]["runner_status"]["awaited"] is False


def _run_doc_recipes(artefact: Path) -> None:
    """The jq recipes of docs/eng5-cluster.md print real values for a real cluster artefact."""
    import re
    import shutil
    import subprocess

    doc = Path(__file__).resolve().parents[3] / "docs" / "eng5-cluster.md"
    text = doc.read_text(encoding="utf-8")
    section = text.split("## Inspecting a cluster run", 1)[1].split("\n## ", 1)[0]
    commands = [line for block in re.findall(r"```sh\n(.*?)```", section, re.S)
                for line in block.splitlines() if line.startswith("jq ")]
    assert len(commands) >= 5
    form = re.compile(r"jq((?: -[a-zA-Z]+)*) '(.*)' RUN/assessment_run\.execute\.json")
    matches = [form.fullmatch(command) for command in commands]
    assert all(matches), commands
    if shutil.which("jq") is None:
        return  # the form is checked; running them needs the jq binary
    for command, match in zip(commands, matches, strict=True):
        assert match is not None
        done = subprocess.run(["jq", *match.group(1).split(), match.group(2), str(artefact)],
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, (command, done.stderr)
        values = [json.loads(line) for line in done.stdout.splitlines() if line.strip()] \
            if "-c" in match.group(1) else [json.loads(done.stdout)]
        assert values and all(v not in (None, [], {}) for v in values), (command, done.stdout)


def test_completion_timeout_gives_partial_data(cluster_api: LiveApi, broker: Any,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A slow worker: the runner stops waiting at --completion-timeout, keeps what arrived,
    and exits with the timeout code; the artefact says partial_data."""
    root, out = _folder(tmp_path), tmp_path / "runs"
    # 40 comparisons at 4 s each, 8 in flight: at least 20 s of judging, so the batch cannot
    # finish within the 12 s the runner waits, while the first results arrive after about 4 s.
    settings = _settings(cluster_api, broker, root, out, completion_timeout=12,
                         max_comparisons=40, artefact_format="huleedu-1.0")
    with Worker(broker.bootstrap, latency_s=4.0):
        code = remote.run(settings)
    printed = capsys.readouterr().out
    assert code == exit_codes.TIMEOUT_PARTIAL, printed
    doc = json.loads((out / settings.batch_uuid / "assessment_run.execute.json").read_text())
    validate_runner_artefact(doc)
    status = doc["validation"]["runner_status"]
    assert status["partial_data"] is True and status["timeout_seconds"] >= 12
    assert doc["metadata"]["status"] == "running"
    assert doc["metadata"]["stop_reason"] == "completion_timeout"
    seen = status["observed_events"]["comparisons"]
    assert 0 < seen < 40 and doc["costs"]["n_comparisons"] == seen
    assert status["observed_events"]["completions"] == 0
    events = [m for m in doc["validation"]["manifest"]
              if m["path"].startswith("events/comparisons/")]
    assert len(events) == seen
    assert "WARNING: partial data" in printed
    legacy = json.loads((out / settings.batch_uuid
                         / "assessment_run.execute.huleedu-1.0.json").read_text())
    assert legacy["validation"]["runner_status"]["partial_data"] is True


def test_a_failed_batch_is_a_service_failure(cluster_api: LiveApi, broker: Any,
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A judge that cannot judge the students: the batch fails on the cluster, the runner
    records why (status failed, the reason) and exits with the service-failure code."""
    root, out = _folder(tmp_path), tmp_path / "runs"
    anchors_only = {k: v for k, v in _abilities().items()
                    if k not in {text_key(student_text(i).strip()) for i in range(N_STUDENTS)}}
    settings = _settings(cluster_api, broker, root, out)
    with Worker(broker.bootstrap, abilities=anchors_only):
        code = remote.run(settings)
    printed = capsys.readouterr().out
    assert code == exit_codes.SERVICE_FAILURE, printed
    doc = json.loads((out / settings.batch_uuid / "assessment_run.execute.json").read_text())
    validate_runner_artefact(doc)
    assert doc["metadata"]["status"] == "failed" and doc["metadata"]["failure_reason"]
    status = doc["validation"]["runner_status"]
    assert status["partial_data"] is False and status["failures"] == 1
    assert status["observed_events"]["comparisons"] >= 1
    assert "Batch failed: " in printed


def test_preflight_failures_publish_nothing(cluster_api: LiveApi, broker: Any,
                                            tmp_path: Path) -> None:
    """Unknown assignment, bad token, no anchors: refused before the run folder exists."""
    root, out = _folder(tmp_path), tmp_path / "runs"
    with pytest.raises(InputError, match="cjgrade admin instructions create"):
        remote.run(_settings(cluster_api, broker, root, out, assignment_id="nope"))
    with pytest.raises(ConfigError, match=r"401.*cjgrade admin token create --role runner"):
        remote.run(_settings(cluster_api, broker, root, out, api_token="cjg_bad"))

    async def bare() -> None:
        async with cluster_api.client() as admin:
            await create_assignment(admin, "bare", name=None)

    asyncio.run(bare())
    with pytest.raises(InputError, match=r"no anchors on its grade scale.*register-anchors bare"):
        remote.run(_settings(cluster_api, broker, root, out, assignment_id="bare"))
    with pytest.raises(ConfigError, match="needs --assignment-id"):
        remote.run(_settings(cluster_api, broker, root, out, assignment_id=None))
    with pytest.raises(ConfigError, match="--database-url is the store of an embedded run"):
        remote.run(_settings(cluster_api, broker, root, out, auto_extract_eng5_db=True,
                             database_url=cluster_api.pg_url))
    from cjgrade.bus.events import JudgeRequestData

    if "output_verbosity" not in JudgeRequestData.model_fields:  # the bus cannot carry it
        with pytest.raises(ConfigError, match="--output-verbosity cannot reach the workers"):
            remote.run(_settings(cluster_api, broker, root, out, llm_provider="openai",
                                 llm_model="gpt-5-mini", output_verbosity="low"))
    with pytest.raises(ConfigError, match="provider_batch_api runs embedded only"):
        remote.run(_settings(cluster_api, broker, root, out, llm_provider="openai",
                             llm_model="gpt-5-mini", llm_batching_mode="provider_batch_api"))
    contents = cluster_api.count("content")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(BusError, match=f"{dead} does not answer"):
        remote.run(_settings(cluster_api, broker, root, out, kafka_bootstrap=dead))
    assert not out.exists()
    assert cluster_api.count("batches") == 0 and cluster_api.count("content") == contents


async def test_an_interrupted_wait_still_saves_the_events(broker: Any, tmp_path: Path) -> None:
    """Ctrl-C while collecting (the task is cancelled): the events that arrived are saved."""
    import uuid

    from cjgrade.bus.events import AssessmentRequestedV1, ComparisonCompletedV1, make_envelope
    from cjgrade.bus.kafka import KafkaTransport
    from cjgrade.runner.eng5.cluster import publish_and_collect

    batch = str(uuid.uuid4())
    request = make_envelope(AssessmentRequestedV1(batch_uuid=batch, grade_scale="x",
                                                  judge="sim/bt", essays=[]))
    collecting = asyncio.ensure_future(publish_and_collect(
        broker.bootstrap, request, await_completion=True, timeout_s=300, run_dir=tmp_path))
    async with KafkaTransport(broker.bootstrap) as bus:
        requests = bus.subscribe(AssessmentRequestedV1.TOPIC)
        await requests.start()
        async for envelope in requests:  # the collector is subscribed once it has published
            if envelope.key == batch:
                break
        for cid in (1, 2):
            await bus.publish(ComparisonCompletedV1.TOPIC, make_envelope(ComparisonCompletedV1(
                batch_uuid=batch, comparison_id=cid, status="succeeded", winner="A")))
        saved = tmp_path / "events" / "comparisons"
        # The collector's state is not observable from outside before it is cancelled: give
        # the two events ample time to arrive (a bound, not a tuned delay), then Ctrl-C.
        await asyncio.sleep(5)
        assert not collecting.done()
        collecting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await collecting
    assert sorted(p.name for p in saved.iterdir()) == ["comparison_000001.json",
                                                       "comparison_000002.json"]
