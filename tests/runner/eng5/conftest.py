"""Fixtures of the ENG5 runner tests: an ENG5-layout folder with graded anchors whose quality
follows their grade, students with real-export names, an isolated store and environment."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

GRADES = ("F+", "E-", "D+", "C+", "B", "A")
"""Anchors of the eng5_np_legacy_9_step scale, lowest first."""

STUDENTS = (
    "MHHXGLCG 50 (SA24D ENG 5 WRITING 2025)",
    "Anna Exempel (SA24 Eng5 NP Writing Role Models)",
    "Jöns Åkesson (BF24 Eng5 NP Writing Role Models)",
    "student 4",
)

WORD = "reasoned "


def essay_text(quality: int, tag: str) -> str:
    """An essay whose length grows with ``quality`` (a surface judge ranks it so)."""
    return f"Essay {tag}. " + ("Phones help pupils learn because they are " + WORD * quality) * (
        2 + quality)


def write_eng5_folder(root: Path, *, students: tuple[str, ...] = STUDENTS,
                      grades: tuple[str, ...] = GRADES) -> Path:
    """The original's asset-folder layout, with .txt essays."""
    (root / "anchor_essays").mkdir(parents=True)
    (root / "student_essays").mkdir()
    (root / "eng5_np_vt_2017_essay_instruction.md").write_text(
        "Write an essay about mobile phones in school.\n", encoding="utf-8")
    for i, grade in enumerate(grades, start=1):
        name = f"anchor_essay_eng_5_17_vt_{i:03d}_{grade}.txt"
        (root / "anchor_essays" / name).write_text(essay_text(2 * i, f"anchor {i}"),
                                                  encoding="utf-8")
    for i, stem in enumerate(students, start=1):
        (root / "student_essays" / f"{stem}.txt").write_text(essay_text(2 * i + 1, stem),
                                                             encoding="utf-8")
    return root


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated environment: own CJGRADE_HOME (store), no inherited URLs, cwd tmp_path."""
    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path / "home"))
    for name in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "OPENAI_BASE_URL",
                 "KAFKA_BOOTSTRAP_SERVERS", "CJGRADE_API_URL", "CJGRADE_TOKEN",
                 "CJGRADE_SCALES_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def folder(env: Path) -> Path:
    return write_eng5_folder(env / "ROLE_MODELS")


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``eng5-np-run ARGV`` in-process: exit code and everything printed."""
    from cjgrade.cli.eng5 import run_cli as run

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        code = run(argv)
    return code, captured.getvalue()
