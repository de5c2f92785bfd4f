"""``cjgrade report`` on the artefacts ``eng5-np-run`` writes (``assessment_run.<mode>.json``,
with a top-level ``runner``): validated against the runner's schema, the same reports plus the
runner's sections (course fields, judge settings, anchor alignment and boundary test figures).
The artefacts come from real ``eng5-np-run`` runs with the heuristic judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from cjgrade.cli import run
from cjgrade.cli.main import run_app
from cjgrade.judges.manifest import local_judge_description
from cjgrade.reports import canonical_checksum
from cjgrade.reports.markdown import text
from cjgrade.runner.eng5.artefact import validate_runner_artefact
from tests.runner.eng5.conftest import env, folder, run_cli  # noqa: F401

HEURISTIC = ["--llm-provider", "heuristic", "--llm-model", "surface"]
TOP, NEXT = "anchor_essay_eng_5_17_vt_006_A", "anchor_essay_eng_5_17_vt_005_B"


def report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``cjgrade report ARGV`` in-process: exit code, stdout, stderr."""
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    run.register(app)
    capsys.readouterr()
    code = run_app(app, ["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def eng5_run(env: Path, folder: Path, mode: str, *flags: str) -> Path:  # noqa: F811
    """Run ``eng5-np-run --mode MODE`` on the fixture folder; its run folder."""
    before = set((env / "runs").iterdir()) if (env / "runs").exists() else set()
    code, out = run_cli(["--mode", mode, "--input-dir", str(folder), *HEURISTIC,
                         "--output-dir", str(env / "runs"), *flags])
    assert code == 0, out
    (run_dir,) = set((env / "runs").iterdir()) - before
    return run_dir


def artefact_of(run_dir: Path, mode: str) -> dict:
    doc = json.loads((run_dir / f"assessment_run.{mode}.json").read_text("utf-8"))
    validate_runner_artefact(doc)
    return doc


def test_report_of_an_execute_run(env: Path, folder: Path,  # noqa: F811
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The execute run's folder is reported from its runner artefact; the reports equal the
    ones the run wrote (same renderer, same artefact) and carry the runner's sections."""
    run_dir = eng5_run(env, folder, "execute", "--max-comparisons", "24", "--course-id",
                       "course-42", "--course-code", "eng6", "--llm-temperature", "0.3",
                       "--batch-id", "spring <trial>")
    doc = artefact_of(run_dir, "execute")
    written = {name: (run_dir / name).read_text("utf-8") for name in ("report.md", "report.html")}
    for name in written:
        (run_dir / name).unlink()
    code, out, err = report([str(run_dir)], capsys)
    assert code == 0, err
    assert f"markdown: {run_dir / 'report.md'}" in out
    md = (run_dir / "report.md").read_text("utf-8")
    html = (run_dir / "report.html").read_text("utf-8")
    assert {"report.md": md, "report.html": html} == written
    assert "## ENG5 NP runner" in md and "- mode: execute" in md
    assert "- course: ENG6 (course id course-42)" in md
    assert "## Judge settings" in md and "- temperature: 0.3" in md
    assert "- batching mode: per_request" in md
    assert "- batch label: spring &lt;trial&gt;" in md and "spring <trial>" not in md
    events = doc["validation"]["runner_status"]["observed_events"]
    assert (f"- observed events: {events['comparisons']} comparisons, "
            f"{events['assessment_results']} assessment results") in md
    assert f"- files recorded with SHA-256: {len(doc['validation']['manifest'])}" in md
    description = local_judge_description("heuristic/surface")
    assert description and text(description) in md
    assert "<h2>ENG5 NP runner</h2>" in html and "<h2>Judge settings</h2>" in html
    assert "course-42" in html
    for essay in doc["essays"]:
        assert text(essay["essay_id"]) in md
    # the artefact file itself works as well
    code, _, err = report([str(run_dir / "assessment_run.execute.json")], capsys)
    assert code == 0, err
    assert (run_dir / "report.md").read_text("utf-8") == md
    # a cluster run that stopped waiting (status running, partial data) is reported, warned
    doc["metadata"]["status"] = "running"
    doc["validation"]["runner_status"].update(partial_data=True, timeout_seconds=30)
    doc["validation"]["artefact_sha256"] = canonical_checksum(doc)
    partial = env / "partial"
    partial.mkdir()
    (partial / "assessment_run.execute.json").write_text(json.dumps(doc), "utf-8")
    code, _, err = report([str(partial)], capsys)
    assert code == 0, err
    md = (partial / "report.md").read_text("utf-8")
    assert "- status: **running**" in md
    assert "> **partial data: the runner stopped waiting after 30 s" in md


def test_report_of_the_alignment_and_boundary_tests(env: Path, folder: Path,  # noqa: F811
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    aligned = eng5_run(env, folder, "anchor-align-test")
    section = artefact_of(aligned, "anchor-align-test")["runner"]["anchor_alignment"]
    code, _, err = report([str(aligned)], capsys)
    assert code == 0, err
    md = (aligned / "report.md").read_text("utf-8")
    assert "## Anchor alignment test" in md
    assert (f"- Kendall tau-b: {section['kendall_tau_b']:.3f} (best possible "
            f"{section['kendall_tau_b_max']:.3f}") in md
    assert (f"- anchor pairs judged: {section['n_pairs_compared']} of "
            f"{section['n_anchor_pairs']}") in md
    assert f"- meets the targets: {'yes' if section['meets_targets'] else 'no'}" in md
    assert "- full report: anchor_alignment.md" in md
    assert "<h2>Anchor alignment test</h2>" in (aligned / "report.html").read_text("utf-8")

    boundary = eng5_run(env, folder, "boundary-test", "--boundary-pairs", f"{TOP}:{NEXT}",
                        "--boundary-iterations", "2")
    pair = artefact_of(boundary, "boundary-test")["runner"]["boundary_test"]["pairs"][0]
    code, _, err = report([str(boundary)], capsys)
    assert code == 0, err
    md = (boundary / "report.md").read_text("utf-8")
    assert "## Boundary test" in md and "- repeats: 2 per order, 4 calls per pair" in md
    row = next(line for line in md.splitlines() if line.startswith(f"| {text(TOP)}:"))
    assert f"| {pair['n_calls']} | {pair['n_failed']} |" in row
    assert text(pair["reading"]) in row
    assert f"{pair['metrics']['hard_wins']} of {pair['metrics']['n']}" in row


def test_report_refuses_what_it_cannot_report(env: Path, folder: Path,  # noqa: F811
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A dry run (no results), an edited artefact, one that breaks the runner schema, a folder
    with two runner artefacts: one line each, exit 3, nothing written."""
    dry = eng5_run(env, folder, "dry-run")
    code, _, err = report([str(dry)], capsys)
    assert code == 3 and "a dry run" in err and "--mode execute" in err
    assert not (dry / "report.md").exists()

    run_dir = eng5_run(env, folder, "execute", "--max-comparisons", "12")
    path = run_dir / "assessment_run.execute.json"
    doc = json.loads(path.read_text("utf-8"))
    doc["runner"]["course_code"] = "ENG9"
    path.write_text(json.dumps(doc), "utf-8")
    code, _, err = report([str(run_dir)], capsys)
    assert code == 3 and "checksum mismatch" in err
    doc["validation"]["artefact_sha256"] = canonical_checksum(doc)
    path.write_text(json.dumps(doc), "utf-8")
    code, _, err = report([str(run_dir)], capsys)
    assert code == 3 and "runner/course_code" in err and "ENG9" in err

    (run_dir / "assessment_run.anchor-align-test.json").write_text("{}", "utf-8")
    code, _, err = report([str(run_dir)], capsys)
    assert code == 3 and "several artefacts" in err
    assert "assessment_run.anchor-align-test.json, assessment_run.execute.json" in err

    empty = env / "empty"
    empty.mkdir()
    code, _, err = report([str(empty)], capsys)
    assert code == 3 and "no artefact there" in err
