"""Anchor-only batches in the engine (what anchor-align-test needs): the spec checks, a run
with and without grades requested, and the project's reports on its artefact."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cjgrade.domain import Essay
from cjgrade.engine.embedded import run_embedded
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.errors import InputError
from cjgrade.judges import get_judge
from cjgrade.reports import build_artefact, validate_artefact, write_reports
from tests.runner.eng5.anchor_sets import anchor_text, by_quality

GRADES = ("F+", "E-", "E+", "D-", "D+", "C-")


def _spec(anchor_grades: tuple[str, ...] = GRADES, students: int = 0,
          **options: object) -> BatchSpec:
    essays = [Essay(id=f"anchor:{k}_{g}", text=anchor_text(10 * (k + 1)), is_anchor=True,
                    grade=g, label=f"{k}_{g}.txt") for k, g in enumerate(anchor_grades)]
    essays += [Essay(id=f"s{i}", text=anchor_text(500 + i)) for i in range(students)]
    n = len(anchor_grades)
    opts = {"budget": max(1, n * (n - 1) // 2), "strategy": "coverage", "target_reliability": None,
            "stability_threshold": None, **options}
    inputs = {"root": "anchors-only", "instructions": None, "prompt": None, "rubric": None,
              "anchors": [{"essay_id": e.id, "file_name": e.label, "source_path": e.label,
                           "sha256": "0" * 64, "grade": e.grade} for e in essays if e.is_anchor],
              "students": [], "scales_file": None}
    return BatchSpec(essays=tuple(essays), instructions="Compare.", judge="scripted/default",
                     grade_scale="eng5_np_legacy_9_step", inputs=inputs,
                     options=BatchOptions(**opts),  # type: ignore[arg-type]
                     grades_requested=False)


def test_anchor_only_specs() -> None:
    """Two anchors and no student is a valid batch; one anchor is not; a mixed batch still
    needs two students; the anchor strategy needs students; other checks still apply."""
    assert _spec(GRADES[:2]).anchor_only
    validate_spec(_spec(GRADES[:2]))
    with pytest.raises(InputError, match="anchor-only batch has 1 anchor"):
        validate_spec(_spec(GRADES[:1]))
    with pytest.raises(InputError, match="1 student essay"):
        validate_spec(_spec(GRADES, students=1))
    with pytest.raises(InputError, match=r"anchor strategy .* student essays besides"):
        validate_spec(_spec(strategy="anchor"))
    with pytest.raises(InputError, match="round_size 20 exceeds the 15 distinct pairs"):
        validate_spec(_spec(round_size=20))
    empty = BatchSpec(essays=(), instructions="Compare.", judge="scripted/default")
    assert not empty.anchor_only
    with pytest.raises(InputError, match="0 student essay"):
        validate_spec(empty)


@pytest.mark.parametrize("grades", [False, True])
def test_anchor_only_batch_runs_and_renders(tmp_path: Path, grades: bool) -> None:
    """A complete round robin of 6 anchors: 15 distinct pairs, alignment in the result, no
    student projection; the artefact validates and the project's reports render."""
    from dataclasses import replace

    spec = replace(_spec(), grades_requested=grades)
    run = asyncio.run(run_embedded(
        spec, build_judge=lambda n, b, c: get_judge("scripted",
                                                    options={"default": by_quality()}),
        target=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"))
    result = run.result
    assert result.status == "completed" and len(result.comparisons) == 15
    assert len({frozenset((c.essay_a, c.essay_b)) for c in result.comparisons}) == 15
    assert result.students == () and all(e.grade is None for e in result.essays)
    assert result.alignment is not None
    assert result.alignment.kendall_tau_b == pytest.approx(1.0)
    assert result.alignment.problem_zero_win_anchors == ()
    assert result.alignment.meets_targets is True
    assert result.grades.available is grades
    doc = build_artefact(result, run.inputs)
    validate_artefact(doc)
    paths = write_reports(doc, tmp_path / "reports")
    assert all(Path(p).stat().st_size > 0 for p in paths.values())
