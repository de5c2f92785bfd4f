"""ENG5-layout folders of graded anchors for the anchor-align-test and boundary-test tests,
and judges that know the anchors' hidden quality."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from cjgrade.judges.base import JudgeRequest, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request

ENG5_SET = ("001_F+", "002_F+", "003_E-", "004_E+", "005_D-", "006_D+", "007_C-", "008_C+",
            "009_B", "010_B", "011_A", "012_A")
"""The 12 vt-2017 anchors (file-name tails), lowest first: F+ x2, E-, E+, D-, D+, C-, C+,
B x2, A x2."""

_QUALITY = re.compile(r"quality (\d+)")


def anchor_text(quality: int) -> str:
    """A distinct essay text carrying its hidden quality (never shown as a grade)."""
    return (f"Essay of quality {quality}. Phones in school help and harm learning; this essay "
            f"argues its case with examples number {quality}.\n") * 3


def quality_of(text: str) -> int:
    match = _QUALITY.search(text)
    assert match is not None, "not an anchor text of this module"
    return int(match.group(1))


def write_eng5_folder(root: Path, tails: Sequence[str] = ENG5_SET, *,
                      qualities: Sequence[int] | None = None,
                      students: int = 0) -> Path:
    """``root`` with the ENG5 layout: the instruction file and ``anchor_essays/`` holding
    ``anchor_essay_eng_5_17_vt_<tail>.txt`` (quality 10, 20, ... in the given order unless
    ``qualities`` says otherwise); no ``student_essays/`` unless ``students`` > 0."""
    anchors = root / "anchor_essays"
    anchors.mkdir(parents=True)
    (root / "eng5_np_vt_2017_essay_instruction.md").write_text(
        "Write an argumentative essay about mobile phones in school.\n", encoding="utf-8")
    for k, tail in enumerate(tails):
        quality = qualities[k] if qualities is not None else 10 * (k + 1)
        (anchors / f"anchor_essay_eng_5_17_vt_{tail}.txt").write_text(
            anchor_text(quality), encoding="utf-8")
    if students:
        folder = root / "student_essays"
        folder.mkdir()
        for i in range(students):
            (folder / f"Student {i} (SA24 Eng5 NP Writing Role Models).txt").write_text(
                anchor_text(1000 + i), encoding="utf-8")
    return root


def verdict_for(request: JudgeRequest, a_wins: bool, *, p_a: float | None = None,
                confidence: float | None = None, justification: str | None = None) -> Verdict:
    winner = Winner.A if a_wins else Winner.B
    return Verdict(
        winner=winner, p_a=p_a if p_a is not None else (1.0 if a_wins else 0.0),
        justification=justification or f"Essay {winner.value} argues more clearly.",
        provider="scripted", model="default", request_sha256=fingerprint_request(request),
        confidence=confidence)


def by_quality(flip: Callable[[int, int], bool] | None = None) -> Callable[[JudgeRequest], Verdict]:
    """A scripted response: the higher hidden quality wins, unless ``flip(qa, qb)`` says to
    invert that decision; hard verdicts with a justification naming both qualities."""

    def respond(request: JudgeRequest) -> Verdict:
        qa, qb = quality_of(request.essay_a), quality_of(request.essay_b)
        a_wins = qa > qb
        if flip is not None and flip(qa, qb):
            a_wins = not a_wins
        return verdict_for(request, a_wins, confidence=4.0,
                           justification=f"Quality {qa if a_wins else qb} beats "
                                         f"{qb if a_wins else qa}: clearer argument.")

    return respond
