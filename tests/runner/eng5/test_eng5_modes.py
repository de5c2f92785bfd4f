"""plan, dry-run and execute end to end, embedded, through the CLI and (execute) with the
scripted judge: what is printed, what is written where, artefacts valid against both
schemas, R1, R2, R4 and R5 and their failure paths."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cjgrade.judges.base import JudgeRequest, Usage, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.artefact import validate_runner_artefact
from cjgrade.runner.eng5.huleedu import validate_huleedu
from cjgrade.runner.eng5.settings import Eng5Settings
from tests.runner.eng5.conftest import GRADES, run_cli, write_eng5_folder

SCRIPTED = ["--llm-provider", "scripted", "--llm-model", "default"]
HEURISTIC = ["--llm-provider", "heuristic", "--llm-model", "surface"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_dirs(env: Path) -> list[Path]:
    root = env / "eng5_runs"
    return sorted(root.iterdir()) if root.exists() else []


def longer_wins(request: JudgeRequest) -> Verdict:
    """A scripted judge with a known truth: the longer essay is better (the fixture's essays
    grow with their grade)."""
    winner = Winner.A if len(request.essay_a) >= len(request.essay_b) else Winner.B
    return Verdict(winner=winner, p_a=0.9 if winner is Winner.A else 0.1, confidence=4,
                   justification=f"{winner.value} develops its argument further",
                   provider="scripted", model="default",
                   request_sha256=fingerprint_request(request),
                   usage=Usage(input_tokens=100, output_tokens=20))


def scripted_builder(seen: list[JudgeRequest]) -> Any:
    from cjgrade.judges import get_judge

    def answer(request: JudgeRequest) -> Verdict:
        seen.append(request)
        return longer_wins(request)

    def build(name: str, base_url: str | None, cache: Any) -> Any:
        return get_judge("scripted/default", options={"default": answer})

    return build


# --- plan -----------------------------------------------------------------------------------


def test_plan_prints_the_inventory_and_writes_nothing(env: Path, folder: Path) -> None:
    code, out = run_cli(["--input-dir", str(folder), *SCRIPTED])
    assert code == 0, out
    assert "✅ Instructions:" in out and "❌ Anchors CSV:" in out
    assert "✅ Anchor essays: 6 files" in out and "✅ Student essays: 4 files" in out
    assert "Comparison capacity: 6 anchors x 4 students = 24" in out
    assert "estimated cost" in out
    assert re.search(r"Canonical batch UUID: [0-9a-f-]{36} \(label: eng5-np-local-batch\)", out)
    assert "PLAN mode complete. Inventory: 6 anchors, 4 students" in out
    assert not (env / "eng5_runs").exists() and not (env / "home").exists()


def test_default_input_dir_is_the_runbook_asset_folder(env: Path) -> None:
    write_eng5_folder(env / "test_uploads" / "ANCHOR ESSAYS" / "ROLE_MODELS_ENG5_NP_2016")
    code, out = run_cli(SCRIPTED)
    assert code == 0, out
    assert "ROLE_MODELS_ENG5_NP_2016/anchor_essays" in out


# --- R1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["plan", "dry-run", "execute"])
def test_r1_max_comparisons_below_two_fails_before_anything(env: Path, folder: Path,
                                                            mode: str) -> None:
    code, out = run_cli(["--mode", mode, "--input-dir", str(folder), "--max-comparisons", "1",
                         *SCRIPTED])
    assert code == exit_codes.USAGE
    assert "--max-comparisons is 1; comparative judgement needs at least 2" in out
    assert _run_dirs(env) == [] and not (env / "home").exists()


@pytest.mark.parametrize("mode", ["plan", "dry-run", "execute"])
def test_r1_capacity_below_one_fails_before_anything(env: Path, mode: str) -> None:
    root = write_eng5_folder(env / "in")
    for path in (root / "anchor_essays").iterdir():
        path.unlink()
    code, out = run_cli(["--mode", mode, "--input-dir", str(root), *SCRIPTED])
    assert code == exit_codes.VALIDATION, out
    assert "comparison capacity is 0 (anchors x students = 0 x 4)" in out
    assert "register-anchors" in out
    assert _run_dirs(env) == [] and not (env / "home").exists()


# --- dry-run --------------------------------------------------------------------------------


def test_dry_run_writes_a_schema_valid_artefact_without_calling_a_judge(
        env: Path, folder: Path) -> None:
    rubric = env / "rubric.md"
    rubric.write_text("Reward argument and accuracy.\n", encoding="utf-8")
    code, out = run_cli(["--mode", "dry-run", "--input-dir", str(folder), *SCRIPTED,
                         "--llm-temperature", "0.0", "--llm-max-tokens", "321",
                         "--rubric", str(rubric), "--language", "SV", "--course-code", "eng6",
                         "--course-id", "course-7", "--batch-id", "trial 1",
                         "--artefact-format", "huleedu-1.0"])
    assert code == 0, out
    (run_dir,) = _run_dirs(env)
    doc = json.loads((run_dir / "assessment_run.dry-run.json").read_text("utf-8"))
    validate_runner_artefact(doc)
    legacy = json.loads((run_dir / "assessment_run.dry-run.huleedu-1.0.json").read_text("utf-8"))
    validate_huleedu(legacy)
    assert run_dir.name == doc["metadata"]["batch_uuid"] == doc["runner"]["batch_uuid"]
    assert doc["metadata"]["status"] == "not_run" and doc["comparisons"] == []
    assert doc["metadata"]["label"] == doc["runner"]["batch_label"] == "trial 1"
    runner = doc["runner"]
    assert (runner["course_code"], runner["course_id"], runner["language"]) == (
        "ENG6", "course-7", "sv")
    assert runner["judge"]["temperature"] == 0.0 and runner["judge"]["max_tokens"] == 321
    assert runner["prompts"]["rubric"]["text"] == "Reward argument and accuracy."
    assert "written in Swedish" in runner["prompts"]["system_prompt"]["text"]
    for entry in doc["inputs"]["anchors"] + doc["inputs"]["students"]:
        assert entry["sha256"] == _sha(Path(entry["source_path"]))
    assert doc["inputs"]["instructions"]["sha256"] == _sha(
        folder / "eng5_np_vt_2017_essay_instruction.md")
    assert legacy["metadata"]["runner_mode"] == "dry-run"
    assert legacy["metadata"]["course_id"] == "course-7"
    assert legacy["inputs"]["prompt_reference"]["source_path"].endswith(
        "eng5_np_vt_2017_essay_instruction.md")
    assert not (env / "home").exists()  # no store: nothing was run


def test_r2_two_runs_never_share_a_folder(env: Path, folder: Path) -> None:
    for _ in range(2):
        code, _out = run_cli(["--mode", "dry-run", "--input-dir", str(folder), *SCRIPTED])
        assert code == 0
    runs = _run_dirs(env)
    assert len(runs) == 2
    uuids = {json.loads((r / "assessment_run.dry-run.json").read_text("utf-8"))["metadata"][
        "batch_uuid"] for r in runs}
    assert uuids == {r.name for r in runs}


def test_a_missing_system_prompt_file_is_refused(env: Path, folder: Path) -> None:
    code, out = run_cli(["--mode", "dry-run", "--input-dir", str(folder), *SCRIPTED,
                         "--system-prompt", str(env / "nope.md")])
    assert code == exit_codes.VALIDATION
    assert "--system-prompt" in out and "no such file" in out
    assert _run_dirs(env) == []


# --- execute (embedded, scripted judge) -----------------------------------------------------


def _settings(env: Path, folder: Path, **flags: Any) -> Eng5Settings:
    return Eng5Settings.from_flags(mode="execute", input_dir=folder, llm_provider="scripted",
                                   llm_model="default", output_dir=env / "eng5_runs", **flags)


def test_execute_embedded_end_to_end(env: Path, folder: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from cjgrade.runner.eng5 import execute

    seen: list[JudgeRequest] = []
    settings = _settings(env, folder, max_comparisons=40, artefact_format="huleedu-1.0",
                         auto_extract_eng5_db=True, verbose=True, llm_temperature=0.0,
                         reasoning_effort="none", language="sv")
    code = execute.run(settings, judge_builder=scripted_builder(seen))
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = settings.run_dir()
    doc = json.loads((run_dir / "assessment_run.execute.json").read_text("utf-8"))
    validate_runner_artefact(doc)
    validate_huleedu(json.loads(
        (run_dir / "assessment_run.execute.huleedu-1.0.json").read_text("utf-8")))
    assert doc["metadata"]["batch_uuid"] == settings.batch_uuid
    assert doc["metadata"]["status"] == "completed"
    # every request carried the settings and the language line
    assert seen and all(r.settings.temperature == 0.0 and r.settings.reasoning_effort == "none"
                        for r in seen)
    assert all("written in Swedish" in r.system_prompt for r in seen)
    # the anchors come out in grade order under a judge that knows the truth
    anchors = sorted((e for e in doc["essays"] if e["is_anchor"]), key=lambda e: e["theta"])
    assert [e["anchor_grade"] for e in anchors] == list(GRADES)
    # R5: the extract is in db_extract/ and in the manifest with its checksum
    manifest = {m["path"]: m for m in doc["validation"]["manifest"]}
    extract = doc["validation"]["post_run"]["eng5_db_extract"]
    assert extract["status"] == "succeeded"
    for rel in extract["files"]:
        assert manifest[rel]["sha256"] == _sha(run_dir / rel)
    data = json.loads((run_dir / f"db_extract/cj_results_{settings.batch_uuid}.json").read_text())
    assert len(data["comparisons"]) == doc["costs"]["n_comparisons"]
    assert all(c["justification"] for c in data["comparisons"])
    assert data["grade_projections"] and data["rounds"]
    assert any(p.startswith("requests/") for p in manifest)
    assert any(p.startswith("events/") for p in manifest)
    assert (run_dir / f"eng5-{settings.batch_uuid}.log").stat().st_size > 0
    # the summary
    assert f"Comparisons: {doc['costs']['n_comparisons']} requested" in out
    assert "Reliability: SSR" in out and "Grade distribution (students):" in out
    assert "scripted::default" in out and "prompt /" in out
    assert f"artefact: {run_dir / 'assessment_run.execute.json'}" in out


def test_r5_extraction_failure_has_its_own_exit_code(env: Path, folder: Path) -> None:
    from cjgrade.runner.eng5 import execute

    settings = _settings(env, folder, max_comparisons=24, auto_extract_eng5_db=True)
    settings.run_dir().mkdir(parents=True)
    (settings.run_dir() / "db_extract").write_text("in the way", encoding="utf-8")
    code = execute.run(settings, judge_builder=scripted_builder([]))
    assert code == exit_codes.EXTRACTION_FAILED
    doc = json.loads(settings.artefact_path().read_text("utf-8"))
    validate_runner_artefact(doc)
    assert doc["metadata"]["status"] == "completed"  # the batch succeeded
    assert doc["validation"]["post_run"]["eng5_db_extract"]["status"] == "failed"


# --- execute against a stored assignment (R4) -----------------------------------------------


def _store_assignment(env: Path, *, anchors: bool, origin: str = "research_experiment") -> str:
    from cjgrade.config import load_settings
    from cjgrade.store import open_store, register_anchor, upsert_assignment
    from tests.runner.eng5.conftest import essay_text

    async def go() -> None:
        store = await open_store(load_settings())
        try:
            async with store.transaction() as session:
                await upsert_assignment(session, "eng5_vt17", instructions="Judge the essays.",
                                        grade_scale="eng5_np_legacy_9_step",
                                        context_origin=origin)
                if anchors:
                    for i, g in enumerate(GRADES, start=1):
                        await register_anchor(session, "eng5_vt17", grade=g, label=f"vt17_{g}",
                                              text=essay_text(2 * i, f"anchor {i}"))
        finally:
            await store.close()

    asyncio.run(go())
    return "eng5_vt17"


def test_r4_execute_is_student_only_against_registered_anchors(env: Path) -> None:
    from cjgrade.runner.eng5 import execute

    root = write_eng5_folder(env / "in", grades=())  # no anchor_essays files at all
    assignment = _store_assignment(env, anchors=True)
    seen: list[JudgeRequest] = []
    settings = _settings(env, root, assignment_id=assignment, max_comparisons=24,
                         expected_grade_scale="eng5_np_legacy_9_step")
    assert execute.run(settings, judge_builder=scripted_builder(seen)) == 0
    doc = json.loads(settings.artefact_path().read_text("utf-8"))
    validate_runner_artefact(doc)
    assert doc["metadata"]["assignment_id"] == assignment
    assert doc["runner"]["assignment"]["anchor_count"] == len(GRADES)
    ids = {e["essay_id"] for e in doc["essays"] if e["is_anchor"]}
    assert ids == {f"anchor:vt17_{g}" for g in GRADES}
    assert doc["inputs"]["anchors"] == []  # no anchor was read from the folder
    assert all(r.instructions == "Judge the essays." for r in seen)


def test_r4_an_assignment_without_anchors_is_refused(env: Path, folder: Path) -> None:
    assignment = _store_assignment(env, anchors=False)
    code, out = run_cli(["--mode", "execute", "--input-dir", str(folder), "--assignment-id",
                         assignment, *SCRIPTED])
    assert code == exit_codes.VALIDATION
    assert "has no anchors in its grade scale eng5_np_legacy_9_step" in out
    assert f"eng5-np-run register-anchors {assignment}" in out
    assert _run_dirs(env) == []


def test_rubric_is_refused_for_a_canonical_national_assignment(env: Path, folder: Path) -> None:
    assignment = _store_assignment(env, anchors=True, origin="canonical_national")
    rubric = env / "rubric.md"
    rubric.write_text("My own rubric.\n", encoding="utf-8")
    code, out = run_cli(["--mode", "execute", "--input-dir", str(folder), "--assignment-id",
                         assignment, "--rubric", str(rubric), *SCRIPTED])
    assert code == exit_codes.VALIDATION
    assert "canonical_national" in out
    assert _run_dirs(env) == []


def test_unknown_assignment_and_expected_scale_fail_fast(env: Path, folder: Path) -> None:
    code, out = run_cli(["--input-dir", str(folder), "--assignment-id", "nope", *SCRIPTED])
    assert code == exit_codes.VALIDATION and "nope" in out
    assignment = _store_assignment(env, anchors=True)
    code, out = run_cli(["--input-dir", str(folder), "--assignment-id", assignment,
                         "--expected-grade-scale", "swedish_8_anchor", *SCRIPTED])
    assert code == exit_codes.VALIDATION
    assert "--expected-grade-scale swedish_8_anchor but assignment eng5_vt17 uses" in out


def test_failed_comparisons_are_counted_and_artefacts_stay_valid(
        env: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A judge whose replies for one essay are always malformed: those comparisons fail
    (after the runtime's retries), are counted in the summary and both artefacts validate
    (the huleedu-1.0 file with null winners, not A/B stand-ins)."""
    from cjgrade.errors import JudgeOutputInvalid
    from cjgrade.judges import get_judge
    from cjgrade.runner.eng5 import execute

    def answer(request: JudgeRequest) -> Verdict:
        if "Essay student 4." in (request.essay_a + request.essay_b):
            raise JudgeOutputInvalid("the reply was not a verdict")
        return longer_wins(request)

    settings = _settings(env, folder, max_comparisons=24, artefact_format="huleedu-1.0")
    code = execute.run(settings, judge_builder=lambda *_: get_judge(
        "scripted/default", options={"default": answer}))
    out = capsys.readouterr().out
    doc = json.loads(settings.artefact_path().read_text("utf-8"))
    validate_runner_artefact(doc)
    legacy = json.loads((settings.run_dir() / "assessment_run.execute.huleedu-1.0.json")
                        .read_text("utf-8"))
    validate_huleedu(legacy)
    failed = [c for c in legacy["llm_comparisons"] if c["status"] == "failed"]
    assert failed and all(c["winner_id"] is None and c["failure_reason"] for c in failed)
    assert f"{doc['costs']['n_failed']} failed" in out
    expected = exit_codes.OK if doc["metadata"]["status"] == "completed" \
        else exit_codes.SERVICE_FAILURE
    assert code == expected


def test_without_an_api_the_assignment_comes_from_the_local_store_with_a_note(
        env: Path) -> None:
    """No token and no --api-url: plan resolves --assignment-id from the configured store and
    says so (the admin API is used as soon as one is configured: test_embedded_api.py)."""
    root = write_eng5_folder(env / "in", grades=())
    assignment = _store_assignment(env, anchors=True)
    code, out = run_cli(["--input-dir", str(root), "--assignment-id", assignment, *SCRIPTED])
    assert code == exit_codes.OK, out
    assert "Resolved assignment (from the local store sqlite" in out
    assert (f"Note: assignment {assignment} was resolved from the local store" in out
            and "give --token (or CJGRADE_TOKEN) and --api-url" in out)
