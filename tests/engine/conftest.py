"""Engine fixtures: a fresh SQLite store per test and a judge that knows the true order."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cjgrade.domain import Essay
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec
from cjgrade.judges.base import JudgeRequest, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request
from cjgrade.store import Store, open_store

GRADES = ("F", "E", "D", "C", "B", "A")
_QUALITY = re.compile(r"quality (\d+)")


def essay_text(quality: int) -> str:
    return f"An essay of quality {quality} about phones in school. " * 4


def quality_of(text: str) -> int:
    match = _QUALITY.search(text)
    assert match is not None
    return int(match.group(1))


def true_order_verdict(request: JudgeRequest) -> Verdict:
    """The essay with the higher hidden quality wins (a perfectly consistent judge)."""
    qa, qb = quality_of(request.essay_a), quality_of(request.essay_b)
    winner = Winner.A if qa > qb else Winner.B
    return Verdict(
        winner=winner, p_a=0.9 if winner is Winner.A else 0.1,
        justification="higher quality", provider="scripted", model="default",
        request_sha256=fingerprint_request(request),
    )


def make_spec(
    n_students: int = 8,
    anchor_grades: tuple[str, ...] = ("F", "D", "B", "A"),
    **options: object,
) -> BatchSpec:
    """Students of qualities 1..n (interleaved with anchors by grade) and graded anchors."""
    essays = [
        Essay(id=f"s{i:02d}", text=essay_text(10 * i + 5), label=f"s{i:02d}.txt")
        for i in range(n_students)
    ]
    top = 10 * n_students
    for g in anchor_grades:
        quality = int(top * (GRADES.index(g) + 0.5) / len(GRADES))
        essays.append(Essay(id=f"anchor:{g}", text=essay_text(quality), is_anchor=True,
                            grade=g, label=f"a_{g}.txt"))
    return BatchSpec(
        essays=tuple(essays),
        instructions="Pick the better essay.",
        judge="scripted/default",
        grade_scale="swedish_8_anchor",
        label="test batch",
        options=BatchOptions(**options),  # type: ignore[arg-type]
        grades_requested=False,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'engine.sqlite3'}")
    yield s
    await s.close()
