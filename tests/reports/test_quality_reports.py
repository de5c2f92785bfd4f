"""A degenerate result is marked in the artefact and announced by both reports; the judge
calibration and the reliability by round are reported, hard outcomes included."""

from __future__ import annotations

import asyncio
import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from cjgrade.judges import get_judge
from cjgrade.judges.base import JudgeRequest, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request
from cjgrade.judges.scripted import ScriptedJudge
from cjgrade.judges.verdict import CONFIDENCE_TO_P_CHOSEN
from cjgrade.reports import (
    render_html,
    render_markdown,
    validate_artefact,
    verify_checksum,
    write_reports,
)
from cjgrade.reports.svg_diagnostics import reliability_diagram_svg, reliability_rounds_svg
from cjgrade.runner.folder_spec import spec_from_folder
from cjgrade.runner.grades import resolve_grade
from cjgrade.runner.inputs import read_input_folder
from tests.reports.conftest import _artefact_of, _spec


def _coin(request: JudgeRequest) -> Verdict:
    """A judge that ignores the essays: side and confidence from the request's hash."""
    digest = fingerprint_request(request)
    level = int(digest[8:10], 16) % 5 + 1
    p = CONFIDENCE_TO_P_CHOSEN[level]
    a = int(digest[:8], 16) % 2 == 0
    return Verdict(winner=Winner.A if a else Winner.B, p_a=p if a else 1 - p,
                   justification="coin", provider="scripted", model="default",
                   request_sha256=digest, confidence=level)


def _hard(request: JudgeRequest) -> Verdict:
    """A judge with hard outcomes (p_a 1 or 0): the longer essay wins."""
    a = len(request.essay_a) >= len(request.essay_b)
    return Verdict(winner=Winner.A if a else Winner.B, p_a=1.0 if a else 0.0,
                   justification="longer", provider="scripted", model="default",
                   request_sha256=fingerprint_request(request))


def _scripted(answer: Any) -> Any:
    runtime = get_judge("scripted")
    assert isinstance(runtime.adapter, ScriptedJudge)
    runtime.adapter.default = answer
    return runtime


async def _coin_on_sample(db: Path) -> dict[str, Any]:
    root = Path(str(resources.files("cjgrade.data").joinpath("sample")))
    folder = read_input_folder(root, resolve_grade=resolve_grade,
                               option_overrides={"budget": 96})
    spec = spec_from_folder(folder, judge="scripted/default")
    return await _artefact_of(db, spec, _scripted(_coin))


@pytest.fixture(scope="module")
def degenerate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bundled sample (8 anchors F..A, 16 students) judged by a coin, with grades."""
    db = tmp_path_factory.mktemp("degenerate") / "run.sqlite3"
    return asyncio.run(_coin_on_sample(db))


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small batch (8 students, 4 anchors, no grades) judged with hard outcomes."""
    db = tmp_path_factory.mktemp("hard") / "run.sqlite3"
    spec = _spec(db.parent / "input")
    return asyncio.run(_artefact_of(db, spec, _scripted(_hard)))


def test_degenerate_artefact_is_marked(degenerate: dict[str, Any]) -> None:
    """A coin-judged run is degenerate: quality says why, and every student's grade, the
    grades section and quality.grades_reliable say the grades must not be used; the artefact
    is schema-valid and its checksum covers the marks."""
    validate_artefact(degenerate)
    quality = degenerate["quality"]
    assert quality["status"] == "degenerate" and quality["grades_reliable"] is False
    codes = {r["code"] for r in quality["reasons"]}
    assert "low_reliability" in codes
    assert all(r["severity"] in ("degenerate", "warning") and r["message"]
               for r in quality["reasons"])
    assert degenerate["grades"]["available"] and degenerate["grades"]["reliable"] is False
    students = [e for e in degenerate["essays"] if not e["is_anchor"]]
    assert students and all(e["grade_projection"]["reliable"] is False for e in students)
    assert list(degenerate)[:2] == ["schema_version", "quality"]  # first thing in the file
    edited = copy.deepcopy(degenerate)
    edited["quality"]["status"] = "ok"
    assert verify_checksum(degenerate) and not verify_checksum(edited)


def test_reports_open_with_the_banner(degenerate: dict[str, Any]) -> None:
    """Both reports say, before anything else, that the grades are not reliable and why; the
    grades in their tables are marked."""
    md = render_markdown(degenerate)
    html = render_html(degenerate)
    first = md.split("\n## ")[0]
    assert "DEGENERATE RESULT" in first and "NOT reliable" in first
    assert first.index("DEGENERATE") < first.index("batch uuid")
    assert "(low_reliability)" in first and "NOT RELIABLE" in md
    banner = html.index('class="banner degenerate"')
    assert banner < html.index('<table class="meta">')
    assert 'role="alert"' in html and "low_reliability" in html
    assert html.count('class="unreliable"') == 16


def test_a_sound_run_has_no_degenerate_banner(sample_artefact: dict[str, Any]) -> None:
    """The heuristic judge on the sample is not degenerate: grades reliable, no red banner
    (at a budget of 96 its reliability may earn a caution, never more); an ok status has no
    banner at all."""
    quality = sample_artefact["quality"]
    assert quality["status"] in ("ok", "warning"), quality["reasons"]
    assert quality["grades_reliable"] and sample_artefact["grades"]["reliable"]
    assert all(e["grade_projection"]["reliable"] for e in sample_artefact["essays"]
               if not e["is_anchor"])
    md, html = render_markdown(sample_artefact), render_html(sample_artefact)
    assert "DEGENERATE" not in md and 'class="banner degenerate"' not in html
    assert "NOT RELIABLE" not in md and 'class="unreliable"' not in html
    ok = copy.deepcopy(sample_artefact)
    ok["quality"].update(status="ok", reasons=[])
    assert "quality checks: **ok" in render_markdown(ok)
    assert "\n> " not in render_markdown(ok) and 'class="banner' not in render_html(ok)


def test_calibration_with_stated_confidence(degenerate: dict[str, Any]) -> None:
    """A judge stating confidence 1-5 gets one row per level with counts that add up, bins
    whose mean stated probability is the level's mapped value, and anchor-pair figures."""
    cal = degenerate["calibration"]
    n_ok = sum(c["status"] == "succeeded" for c in degenerate["comparisons"])
    assert cal["n_comparisons"] == n_ok and cal["n_undecided"] == 0
    levels = cal["confidence_levels"]
    assert [c["level"] for c in levels] == [1, 2, 3, 4, 5]
    assert sum(c["n"] for c in levels) == sum(c["n"] for c in cal["bins"]) == n_ok
    for c in levels:
        if c["n"]:
            assert c["mean_stated_p_chosen"] == pytest.approx(CONFIDENCE_TO_P_CHOSEN[c["level"]])
    assert cal["overall"]["anchor_pairs"] > 0
    md = render_markdown(degenerate)
    assert "stated confidence (1-5)" in md
    # a coin leaves a scale that expects about 0.5 agreement: the report says what that means
    assert cal["overall"]["predicted_agreement"] < 0.6 and "say little about the judge" in md


def test_hard_outcomes_give_one_point(hard: dict[str, Any]) -> None:
    """Hard outcomes: one non-empty bin at p 1.0, the diagram draws one observed point, no
    level table; the reports render both charts."""
    validate_artefact(hard)
    cal = hard["calibration"]
    assert cal["hard_outcomes"] and cal["confidence_levels"] == []
    filled = [c for c in cal["bins"] if c["n"]]
    assert len(filled) == 1 and filled[0]["mean_stated_p_chosen"] == 1.0
    svg = reliability_diagram_svg(cal)
    assert svg.count("<circle") == 2  # the observed point and the legend's dot
    html = render_html(hard)
    assert "Judge calibration" in html and "one point only" in html
    assert 'aria-label="Reliability round by round"' in html
    assert hard["quality"]["grades_reliable"] is False  # no grades were requested
    assert hard["grades"]["available"] is False


def test_reports_write_the_charts_beside_the_markdown(degenerate: dict[str, Any],
                                                       tmp_path: Path) -> None:
    """write_reports writes the two SVG charts that report.md links; the HTML inlines them
    and stays self-contained."""
    paths = write_reports(degenerate, tmp_path)
    md = paths["markdown"].read_text(encoding="utf-8")
    for key in ("calibration_svg", "rounds_svg"):
        assert paths[key].read_text(encoding="utf-8").startswith("<svg")
        assert f"]({paths[key].name})" in md
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count("<svg") >= 4
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    rounds = degenerate["rounds"]
    assert html.count("round ") >= len(rounds)


def test_an_artefact_before_1_2_still_renders(degenerate: dict[str, Any]) -> None:
    """An artefact without the 1.2 sections validates and renders, saying the checks were not
    recorded."""
    old = copy.deepcopy(degenerate)
    for key in ("quality", "calibration"):
        del old[key]
    for e in old["essays"]:
        if e["grade_projection"]:
            del e["grade_projection"]["reliable"]
    old["schema_version"] = "1.1.0"
    validate_artefact(old)
    assert "not recorded" in render_markdown(old)
    assert "Judge calibration" in render_html(old)
    assert "NOT RELIABLE" not in render_markdown(old)


def test_rounds_the_sampler_skipped_are_drawn_as_rings() -> None:
    """A round whose reliability is the Laplace figure (no stopping rule read it) is drawn as
    a ring with a legend entry and says so in its tooltip; sampled rounds are filled dots;
    rounds of artefacts before 1.5 (no method) are drawn as before."""
    def round_(k: int, method: str | None) -> dict[str, Any]:
        return {"round": k, "n_comparisons": 10 * (k + 1), "ssr": 0.5, "reliability": 0.6,
                "max_theta_change": None, "stop": False, "stop_reason": None,
                "reliability_method": method}
    svg = reliability_rounds_svg([round_(0, "laplace_empirical_bayes"),
                                  round_(1, "posterior_sampled"), round_(2, None)])
    assert svg.count('fill="white" stroke=') == 2  # the Laplace round and its legend entry
    assert "round 0: 10 comparisons, reliability 0.600 (Laplace figure, not sampled)" in svg
    assert "round 1: 20 comparisons, reliability 0.600</title>" in svg
    assert "Laplace figure (no rule read it)" in svg
    plain = reliability_rounds_svg([round_(1, "posterior_sampled"), round_(2, None)])
    assert 'fill="white"' not in plain and "Laplace" not in plain
