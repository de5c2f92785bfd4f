"""``cjgrade batches`` against a real uvicorn server; ``export`` of an embedded batch; the
``sim/bt`` abilities helper and the plan's words for non-LLM judges."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import typer

from cjgrade.cli import admin, batches, judges, run
from cjgrade.cli.main import run_app
from cjgrade.config import load_settings
from tests.api.conftest import database_url  # noqa: F401
from tests.api.live_server import LiveServer, create_tokens
from tests.store.fixtures import _db_templates, db_url, pg_url  # noqa: F401


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``cjgrade <argv>`` with the batches, run, judges and admin commands loaded."""
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    for module in (batches, run, judges, admin):
        module.register(app)
    capsys.readouterr()
    code = run_app(app, argv)
    out, err = capsys.readouterr()
    return code, out, err


def sample_folder(tmp_path: Path, budget: int = 48) -> Path:
    """The bundled sample (16 students, 8 anchors) with a small budget."""
    folder = tmp_path / "sample"
    shutil.copytree(Path(str(resources.files("cjgrade.data").joinpath("sample"))), folder)
    config = folder / "config.toml"
    config.write_text(config.read_text().replace("budget = 240", f"budget = {budget}"))
    return folder


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path / "home"))
    for var in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "CJGRADE_API_URL", "CJGRADE_TOKEN",
                "CJGRADE_CONFIG", "CJGRADE_DB_HOST", "KAFKA_BOOTSTRAP_SERVERS",
                "CJGRADE_SCALES_FILE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server(database_url: str, tmp_path: Path,  # noqa: F811
           isolated_env: None) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A live server of a distributed deployment (it knows a broker; none runs here, so the
    tests run submitted batches with the engine in this process)."""
    tokens = create_tokens(database_url)
    live = LiveServer(database_url, tmp_path)
    live.app.state.settings = load_settings(
        env={"CJGRADE_HOME": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"},
        database_url=database_url)
    with live:
        yield live, tokens


def run_batch(store_url: str, batch_uuid: str) -> None:
    """What the orchestrator would do, in this process with the judge called directly."""
    from cjgrade.engine.dispatch import InProcessDispatcher
    from cjgrade.engine.loop import BatchEngine
    from cjgrade.judges import get_judge
    from cjgrade.store import open_store

    async def go() -> None:
        store = await open_store(store_url)
        try:
            engine = BatchEngine(store, InProcessDispatcher(get_judge("heuristic/surface")))
            await engine.run(batch_uuid)
        finally:
            await store.close()

    asyncio.run(go())


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def check_export(out: Path, mode: str, n_comparisons: int) -> dict[str, object]:
    """The export folder holds a valid artefact, both reports and the three tables."""
    from cjgrade.reports import load_artefact, validate_artefact

    doc = load_artefact(out)  # checksum verified
    validate_artefact(doc)
    assert doc["metadata"]["mode"] == mode
    for name in ("report.md", "report.html"):
        assert (out / name).stat().st_size > 1000
    essays = read_csv(out / "essays.csv")
    assert [int(e["rank"]) for e in essays] == list(range(1, 25))
    assert len(read_csv(out / "comparisons.csv")) == n_comparisons
    projections = read_csv(out / "projections.csv")
    assert len(projections) == 16
    grades = [c for c in projections[0] if c.startswith("p_")]
    assert grades[:2] == ["p_F", "p_E"] and grades[-1] == "p_A"
    for row in projections:
        assert abs(sum(float(row[g]) for g in grades) - 1) < 1e-6
    return doc


def test_submit_watch_export_cancel_through_the_api(
    server: tuple[LiveServer, dict[str, str]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """submit prints the uuid; list/show report progress; watch ends 0 on a completed batch
    and 8 on a cancelled one; export writes the artefact, reports and tables."""
    live, tokens = server
    api = ["--api-url", live.url, "--token", tokens["runner"]]
    folder = sample_folder(tmp_path)
    code, out, err = cli(["batches", "submit", str(folder), *api], capsys)
    assert code == 0, err
    uuid = out.strip()
    assert "16 students, 8 anchors, 48 comparisons planned" in err
    assert f"cjgrade batches watch {uuid}" in err
    code, out, _ = cli(["batches", "list", *api], capsys)
    assert code == 0 and out.startswith(uuid) and "created" in out and "0/48" in out
    code, out, _ = cli(["batches", "show", uuid, "--json", *api], capsys)
    assert code == 0 and json.loads(out)["comparisons_planned"] == 48
    code, _, err = cli(["batches", "export", uuid, "--out", str(tmp_path / "early"), *api],
                       capsys)
    assert code == 3 and "not finished" in err

    run_batch(live.database_url, uuid)
    code, out, _ = cli(["batches", "watch", uuid, "--interval", "0.1", *api], capsys)
    assert code == 0 and "completed" in out and "48/48" in out
    code, out, _ = cli(["batches", "show", uuid, *api], capsys)
    assert "reliability" in out and "48 done of 48 planned" in out
    exported = tmp_path / "export"
    code, out, err = cli(["batches", "export", uuid, "--out", str(exported), *api], capsys)
    assert code == 0, err
    assert "essays:" in out and "distributed, completed" in err
    doc = check_export(exported, "distributed", 48)
    assert doc["inputs"]["students"][0]["file_name"] == "student_01.txt"

    code, out, _ = cli(["batches", "submit", str(folder), "--budget", "30", *api], capsys)
    second = out.strip()
    code, out, _ = cli(["batches", "cancel", second, *api], capsys)
    assert code == 0 and "cancelled" in out
    code, out, _ = cli(["batches", "watch", second, *api], capsys)
    assert code == 8 and "cancelled" in out
    code, out, _ = cli(["batches", "list", "--status", "cancelled", *api], capsys)
    assert out.strip().startswith(second) and len(out.strip().splitlines()) == 1


def test_cli_failures_are_one_line_with_the_fix(
    server: tuple[LiveServer, dict[str, str]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A read token cannot submit (exit 2, names the role); an unknown batch is exit 3; a bad
    folder is refused before any request; no token is exit 2."""
    live, tokens = server
    folder = sample_folder(tmp_path)
    code, _, err = cli(["batches", "submit", str(folder), "--api-url", live.url, "--token",
                        tokens["read"]], capsys)
    # One error line (other lines may be log records of the server thread, whose handlers
    # other tests of the session may have pointed at a closed stream).
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2 and "admin or runner" in line and "--role runner" in line
    unknown = "0f8fad5b-d9cb-469f-a165-70867728950e"
    code, _, err = cli(["batches", "show", unknown, "--api-url", live.url, "--token",
                        tokens["read"]], capsys)
    assert code == 3 and f"unknown batch '{unknown}'" in err
    code, _, err = cli(["batches", "list", "--api-url", live.url], capsys)
    assert code == 2 and "cjgrade admin token create" in err
    code, _, err = cli(["batches", "submit", str(tmp_path / "nowhere"), "--api-url", live.url,
                        "--token", tokens["runner"]], capsys)
    assert code == 3 and "not a folder" in err
    code, _, err = cli(["batches", "submit", str(folder), "--budget", "3", "--api-url",
                        live.url, "--token", tokens["runner"]], capsys)
    assert code == 3 and "budget" in err


def test_submit_to_a_server_without_orchestrator_says_so(
    database_url: str, tmp_path: Path, isolated_env: None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    tokens = create_tokens(database_url)
    with LiveServer(database_url, tmp_path) as live:
        code, _, err = cli(["batches", "submit", str(sample_folder(tmp_path)), "--api-url",
                            live.url, "--token", tokens["admin"]], capsys)
    assert code == 3 and "runs no batch orchestrator" in err and "nothing was stored" in err


def test_export_of_an_embedded_batch(
    database_url: str, tmp_path: Path, isolated_env: None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A batch `cjgrade run` ran exports the same way, from its database or through the API
    of a server on that database; its artefact says embedded and names the folder."""
    folder = sample_folder(tmp_path)
    code, _, err = cli(["run", str(folder), "--database-url", database_url, "--out",
                        str(tmp_path / "run")], capsys)
    assert code == 0, err
    uuid = json.loads((tmp_path / "run" / "assessment_run.json").read_text())["metadata"][
        "batch_uuid"]
    code, _, err = cli(["batches", "export", uuid, "--database-url", database_url, "--out",
                        str(tmp_path / "direct")], capsys)
    assert code == 0, err
    doc = check_export(tmp_path / "direct", "embedded", 48)
    assert doc["inputs"]["root"] == str(folder)
    tokens = create_tokens(database_url)
    with LiveServer(database_url, tmp_path) as live:
        code, _, err = cli(["batches", "export", uuid, "--out", str(tmp_path / "api"),
                            "--api-url", live.url, "--token", tokens["read"]], capsys)
    assert code == 0, err
    via_api = check_export(tmp_path / "api", "embedded", 48)
    assert via_api["essays"] == doc["essays"] and via_api["comparisons"] == doc["comparisons"]


def test_sim_abilities_are_keyed_by_the_text_cjgrade_reads(
    tmp_path: Path, isolated_env: None, capsys: pytest.CaptureFixture[str],
) -> None:
    """The key is the SHA-256 of the trimmed text (what sim/bt looks up), not of the file's
    bytes; every essay needs a row; a bad header or an unknown essay is one line, exit 3."""
    from cjgrade.judges.sim import text_key

    folder = sample_folder(tmp_path)
    first = folder / "students" / "student_01.txt"
    first.write_text("\n\n  " + first.read_text().strip() + "  \n")
    names = sorted(p.name for p in (folder / "students").iterdir())
    names += sorted(p.name for p in (folder / "anchors").iterdir())
    scores = tmp_path / "scores.csv"
    scores.write_text("essay,ability\n" + "".join(f"{n},{i / 10}\n" for i, n in
                                                  enumerate(names)))
    code, out, err = cli(["judges", "sim-abilities", str(folder), "--scores", str(scores)],
                         capsys)
    assert code == 0, err
    abilities = json.loads(out)["sim/bt"]["abilities"]
    assert len(abilities) == 24
    text = first.read_text()
    assert abilities[text_key(text.strip())] == 0.0
    assert hashlib.sha256(text.encode()).hexdigest() not in abilities  # what sha256sum gives
    scores.write_text("essay,ability\nstudent_01.txt,1\n")
    code, _, err = cli(["judges", "sim-abilities", str(folder), "--scores", str(scores)],
                       capsys)
    assert code == 3 and "no ability for 23 essay(s)" in err
    scores.write_text("name,score\n")
    code, _, err = cli(["judges", "sim-abilities", str(folder), "--scores", str(scores)],
                       capsys)
    assert code == 3 and "essay,ability" in err
    scores.write_text("essay,ability\nnobody.txt,1\n")
    code, _, err = cli(["judges", "sim-abilities", str(folder), "--scores", str(scores)],
                       capsys)
    assert code == 3 and "nobody.txt" in err


def test_plan_describes_sim_bt_as_a_simulation(
    tmp_path: Path, isolated_env: None, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(["plan", str(sample_folder(tmp_path)), "--judge", "sim/bt",
                          "--format", "json"], capsys)
    assert code == 0, err
    warnings = json.loads(out)["warnings"]
    assert any("a simulation" in w for w in warnings)
    assert not any("surface features" in w for w in warnings)


def test_live_view_shows_progress_reliability_and_cost() -> None:
    """What `watch` draws on a terminal: the bar, comparisons, round, reliability and cost
    (a lower bound when some prices are unknown)."""
    from datetime import UTC, datetime

    from rich.console import Console

    from cjgrade.api.schemas import BatchProgressOut
    from cjgrade.cli.batches_view import progress_line, watch_table

    now = datetime.now(UTC)
    batch = BatchProgressOut(
        batch_uuid="0f8fad5b-d9cb-469f-a165-70867728950e", label="phones", status="running",
        judge="openai/gpt-5-mini", assignment_id=None, grade_scale="swedish_8_anchor",
        n_students=16, n_anchors=8, comparisons_planned=240, comparisons_done=120,
        comparisons_succeeded=118, comparisons_failed=2, comparisons_pending=24,
        rounds_fitted=5, reliability=0.8123, ssr=0.79, stop_reason=None, cost_usd=0.125,
        cost_unknown_comparisons=3, failure_reason=None, created_at=now, updated_at=now,
        finished_at=None)
    console = Console(record=True, width=100, force_terminal=False)
    console.print(watch_table(batch))
    text = console.export_text()
    assert "120/240 (2 failed, 24 in flight)" in text and "0.812" in text
    assert "≥ $0.1250" in text and "phones" in text
    assert "120/240 comparisons (2 failed), round 5, reliability 0.812" in progress_line(batch)


def test_watch_rides_out_a_server_restart(
    server: tuple[LiveServer, dict[str, str]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the server has answered, a watch keeps polling while it does not (a restart of
    serve; the batch goes on), says so, and ends as usual; past --retry-for it gives up with
    exit 2. A server that never answered is an error at once."""
    from cjgrade.api.client import ApiClient, ApiUnreachable

    live, tokens = server
    api = ["--api-url", live.url, "--token", tokens["runner"]]
    code, out, err = cli(["batches", "submit", str(sample_folder(tmp_path)), *api], capsys)
    assert code == 0, err
    uuid = out.strip()
    run_batch(live.database_url, uuid)

    real = ApiClient.get_batch
    answers = iter(["running", "down", "down", "real"])

    async def restarting(self: ApiClient, batch_uuid: str) -> Any:
        what = next(answers, "real")
        if what == "down":
            raise ApiUnreachable(f"cannot connect to the cjgrade API at {live.url}")
        batch = await real(self, batch_uuid)
        return batch.model_copy(update={"status": "running"}) if what == "running" else batch

    monkeypatch.setattr(ApiClient, "get_batch", restarting)
    code, out, err = cli(["batches", "watch", uuid, "--interval", "0.1", *api], capsys)
    assert code == 0 and "completed" in out, err
    assert "the API does not answer" in err and "the API answers again" in err

    answers = iter(["running"] + ["down"] * 1000)
    code, _, err = cli(["batches", "watch", uuid, "--interval", "0.1", "--retry-for", "0.3",
                        *api], capsys)
    assert code == 2 and "cannot connect" in err

    answers = iter(["down"] * 10)
    code, _, err = cli(["batches", "watch", uuid, "--interval", "0.1", *api], capsys)
    assert code == 2 and "polling again" not in err
