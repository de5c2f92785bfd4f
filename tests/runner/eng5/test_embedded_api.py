"""Embedded modes with ``--assignment-id`` against a live API (no broker): plan, dry-run and
execute resolve the assignment and its anchors through the admin API (R3, R4) as soon as an
API is configured (a token, or an explicit ``--api-url``), and the batch then runs in this
process on the local store. Failures name the command that fixes them, before anything is
written."""

# ruff: noqa: F811 (the fixtures are imported from tests/runner/eng5/live_api.py)

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.artefact import validate_runner_artefact
from tests.runner.eng5.conftest import run_cli
from tests.runner.eng5.live_api import (  # noqa: F401
    INSTRUCTIONS,
    PROMPT,
    LiveApi,
    _db_templates,
    anchor_text,
    create_assignment,
    live_api,
    pg_url,
    write_eng5_folder,
)

pytestmark = pytest.mark.postgres

GRADES = ("F+", "E-", "D+", "C+", "B", "A")
N_STUDENTS = 4
HEURISTIC = ["--llm-provider", "heuristic", "--llm-model", "surface"]


def _setup(api: LiveApi) -> None:
    async def go() -> None:
        async with api.client() as admin:
            await create_assignment(admin)
            for i, grade in enumerate(GRADES):
                await admin.register_anchor("np_2017_vt", grade, f"anchor_{i:03d}_{grade}",
                                            anchor_text(grade, i) + " well argued" * (4 * i))

    asyncio.run(go())


def _args(api: LiveApi, root: Path, tmp_path: Path, *extra: str,
          token: str | None = None) -> list[str]:
    return ["--input-dir", str(root), "--output-dir", str(tmp_path / "runs"),
            "--assignment-id", "np_2017_vt", "--api-url", api.url,
            "--token", token if token is not None else api.tokens["runner"], *HEURISTIC, *extra]


def _folder(tmp_path: Path) -> Path:
    return write_eng5_folder(tmp_path / "ROLE_MODELS_ENG5_NP_2016", {}, n_students=N_STUDENTS)


def test_plan_runs_the_assignment_preflight_through_the_api(live_api: LiveApi,
                                                            tmp_path: Path) -> None:
    _setup(live_api)
    root = _folder(tmp_path)
    code, out = run_cli(["--mode", "plan", *_args(live_api, root, tmp_path)])
    assert code == exit_codes.OK, out
    assert (f"Assignment np_2017_vt (from {live_api.url}): name np-2017-vt, grade scale "
            "eng5_np_legacy_9_step, context origin research_experiment, student prompt "
            "present") in out
    assert "Anchors: 6 registered on eng5_np_legacy_9_step" in out
    assert "PLAN mode complete. Inventory: 6 anchors, 4 students" in out
    assert "local store" not in out
    assert not (tmp_path / "runner-home").exists()  # no local store was opened
    assert not (tmp_path / "runs").exists()


def test_the_environment_configures_the_api_too(live_api: LiveApi, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """CJGRADE_API_URL and CJGRADE_TOKEN, as an operator sets them, without flags."""
    _setup(live_api)
    monkeypatch.setenv("CJGRADE_API_URL", live_api.url)
    monkeypatch.setenv("CJGRADE_TOKEN", live_api.tokens["read"])
    code, out = run_cli(["--input-dir", str(_folder(tmp_path)), "--assignment-id",
                         "np_2017_vt", *HEURISTIC])
    assert code == exit_codes.OK, out
    assert f"Assignment np_2017_vt (from {live_api.url})" in out


def test_preflight_failures_through_the_api_name_the_fix(live_api: LiveApi,
                                                         tmp_path: Path) -> None:
    """Unknown assignment (exit 3), refused token (exit 2), no anchors (exit 3), a scale
    assertion that fails (exit 3): each before anything is written, in every mode."""
    root = _folder(tmp_path)

    async def bare() -> None:
        async with live_api.client() as admin:
            await create_assignment(admin)

    asyncio.run(bare())
    for mode in ("plan", "dry-run", "execute"):
        code, out = run_cli(["--mode", mode, *_args(live_api, root, tmp_path,
                                                    "--assignment-id", "nope_2099")])
        assert code == exit_codes.VALIDATION, out
        assert "assignment nope_2099 is unknown to the API" in out
        assert "cjgrade admin instructions create --assignment-id nope_2099" in out
        code, out = run_cli(["--mode", mode, *_args(live_api, root, tmp_path,
                                                    token="cjg_not_a_token")])
        assert code == exit_codes.USAGE, out
        assert "401" in out and "cjgrade admin token create --role runner" in out
        code, out = run_cli(["--mode", mode, *_args(live_api, root, tmp_path)])
        assert code == exit_codes.VALIDATION, out
        assert "no anchors on its grade scale" in out
        assert "eng5-np-run register-anchors np_2017_vt" in out
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "runner-home").exists()


def test_dry_run_records_where_the_assignment_came_from(live_api: LiveApi,
                                                        tmp_path: Path) -> None:
    _setup(live_api)
    code, out = run_cli(["--mode", "dry-run", *_args(live_api, _folder(tmp_path), tmp_path,
                                                     "--expected-grade-scale",
                                                     "eng5_np_legacy_9_step")])
    assert code == exit_codes.OK, out
    (artefact,) = (tmp_path / "runs").glob("*/assessment_run.dry-run.json")
    doc = json.loads(artefact.read_text("utf-8"))
    validate_runner_artefact(doc)
    assert doc["metadata"]["assignment_id"] == "np_2017_vt"
    assignment = doc["runner"]["assignment"]
    assert assignment["source"] == f"the API at {live_api.url}"
    assert assignment["anchor_count"] == 6 and assignment["anchors_by_grade"]["A"] == 1


def test_execute_embedded_takes_the_assignment_from_the_api(live_api: LiveApi,
                                                            tmp_path: Path) -> None:
    """The batch runs in this process on the local store with the assignment's texts and its
    registered anchors as the API serves them; the extract is written as for any run."""
    _setup(live_api)
    code, out = run_cli(["--mode", "execute", "--max-comparisons", "30",
                         "--auto-extract-eng5-db",
                         *_args(live_api, _folder(tmp_path), tmp_path)])
    assert code == exit_codes.OK, out
    (artefact,) = (tmp_path / "runs").glob("*/assessment_run.execute.json")
    doc = json.loads(artefact.read_text("utf-8"))
    validate_runner_artefact(doc)
    assert doc["metadata"]["assignment_id"] == "np_2017_vt"
    assert doc["metadata"]["mode"] == "embedded" and doc["metadata"]["status"] == "completed"
    anchors = {e["essay_id"]: e["anchor_grade"] for e in doc["essays"] if e["is_anchor"]}
    assert anchors == {f"anchor:anchor_{i:03d}_{g}": g for i, g in enumerate(GRADES)}
    assert len([e for e in doc["essays"] if not e["is_anchor"]]) == N_STUDENTS
    assert doc["inputs"]["anchors"] == [] and doc["inputs"]["instructions"] is None
    request = json.loads(next(artefact.parent.glob("requests/*.json")).read_text("utf-8"))
    assert request["assignment_id"] == "np_2017_vt"
    assert doc["validation"]["post_run"]["eng5_db_extract"]["status"] == "succeeded"
    assert (tmp_path / "runner-home").is_dir()  # the batch is in the local store
    assert INSTRUCTIONS and PROMPT  # the texts the API served (checked on the wire elsewhere)
