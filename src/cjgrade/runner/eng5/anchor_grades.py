"""Anchor grades of the runner's input folder, from three sources that must agree: the ENG5
CSV at the folder's root (``ANCHOR_ESSAYS_BAYESIAN_INFERENCE_DATA.csv``: ``ANCHOR-ID`` or
``anchor_id``, ``FILE-NAME`` or ``file_name``, ``grade`` or ``pred_mode_grade``), the project's
``anchors.csv`` (``file_name,grade``) in the anchor folder itself, and the file-name suffix.

Every problem is appended to the caller's ``problems`` list (the folder's one report); notes
that do not stop a run go to ``warnings``. The CSV's ``ANCHOR-ID`` is kept for every anchor file
it names (:attr:`Eng5Csv.anchor_ids`), with or without a grade column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cjgrade.display import printable
from cjgrade.errors import InputError
from cjgrade.runner.documents import shown
from cjgrade.runner.grades import CsvGrade, parse_anchor_csv, resolve_grade
from cjgrade.runner.inputs import grade_suffix
from cjgrade.scales import GradeScale

__all__ = ["Eng5Csv", "GradeRow", "anchor_grade", "read_eng5_csv", "read_folder_csv"]

_ID_COLUMNS = ("anchor-id", "anchor_id")
_FILE_COLUMNS = ("file-name", "file_name")
_GRADE_COLUMNS = ("grade", "pred_mode_grade")


@dataclass(frozen=True)
class GradeRow:
    """An anchor grade from a CSV file: the raw grade, its line, the file (printable)."""

    grade: str
    line: int
    where: str


@dataclass
class Eng5Csv:
    """What the ENG5 CSV says about the anchor files."""

    grades: dict[str, CsvGrade] = field(default_factory=dict)
    """Anchor file name -> its grade row."""
    anchor_ids: dict[str, str] = field(default_factory=dict)
    """Anchor file name -> its ``ANCHOR-ID``."""


def read_eng5_csv(path: Path, raw: bytes, *, anchor_dir: Path, student_dir: Path,
                  problems: list[str], warnings: list[str]) -> Eng5Csv:
    """The ENG5 CSV ``path`` (its bytes ``raw``): grades and ids of the anchor files."""
    name_of_csv = path.name
    out_csv = Eng5Csv()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        out_csv.grades = parse_anchor_csv(name_of_csv, raw, problems)
        return out_csv
    rows = [r for r in csv.reader(io.StringIO(text))]
    if not rows:
        warnings.append(f"{name_of_csv} is empty; anchor grades come from the file names")
        return out_csv
    header = [c.strip().lower() for c in rows[0]]
    i_id = _column(header, _ID_COLUMNS)
    i_file = _column(header, _FILE_COLUMNS)
    i_grades = [header.index(c) for c in _GRADE_COLUMNS if c in header]
    if i_file is None and i_id is None:
        problems.append(
            f"{name_of_csv} line 1: the header `{printable(','.join(rows[0]))}` has neither "
            "FILE-NAME (file_name) nor ANCHOR-ID (anchor_id); add them or remove the file")
        return out_csv
    stems = _anchor_stems(anchor_dir)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file_name", "grade"])
    line_of: list[int] = [1]
    for number, row in enumerate(rows[1:], start=2):
        def cell(i: int | None, row: list[str] = row) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        grade = next((cell(i) for i in i_grades if cell(i)), "")
        name = cell(i_file) or stems.get(cell(i_id), "")
        if name and cell(i_id) and (anchor_dir / name).is_file():
            out_csv.anchor_ids[name] = cell(i_id)
        if not grade or not (name or cell(i_id)):
            continue  # no grade here: the file-name suffix applies
        if not name:
            problems.append(
                f"{name_of_csv} line {number}: ANCHOR-ID {printable(cell(i_id))!r} matches no "
                f"file of {shown(anchor_dir)}; add its FILE-NAME")
            continue
        if (student_dir / name).exists():
            warnings.append(f"{name_of_csv} line {number}: '{printable(name)}' is a student "
                            "essay; its grade is not used")
            continue
        writer.writerow([name, grade])
        line_of.append(number)
    if not i_grades:
        warnings.append(
            f"{name_of_csv} has no grade or pred_mode_grade column (it holds rater grades, "
            "not anchor grades); anchor grades come from the file names")
        return out_csv
    parsed = parse_anchor_csv(name_of_csv, out.getvalue().encode(), problems)
    # Report the line numbers of the original file, not of the rewritten one.
    out_csv.grades = {n: CsvGrade(g.grade, line_of[g.line - 1]) for n, g in parsed.items()}
    return out_csv


def read_folder_csv(path: Path, raw: bytes, problems: list[str]) -> dict[str, GradeRow]:
    """``anchors.csv`` (``file_name,grade``) of an anchor folder, as ``cjgrade run`` reads it:
    a project-layout ``anchors/`` folder works as ``--anchor-dir``."""
    folder, where = path.parent, shown(path)
    parsed = parse_anchor_csv(where, raw, problems)
    for name, row in parsed.items():
        if not (folder / name).exists():
            hint = " (give the file name only)" if "/" in name or "\\" in name else ""
            problems.append(f"{where} line {row.line}: lists '{printable(name)}', which is not "
                            f"in {shown(folder)}{hint}")
    return {name: GradeRow(row.grade, row.line, where) for name, row in parsed.items()}


def anchor_grade(path: Path, rows: Sequence[GradeRow], scale_id: str,
                 user_scales: tuple[GradeScale, ...], problems: list[str]) -> str | None:
    """The anchor's grade from the CSV rows naming it, or its file-name suffix (``+``/``-``
    kept, a trailing counter dropped); two CSV files that disagree, or a CSV grade that
    contradicts the suffix, are problems (None is returned)."""
    suffix = grade_suffix(path.name)
    resolved: list[tuple[GradeRow, str]] = []
    for row in rows:
        try:
            resolved.append((row, resolve_grade(row.grade, scale_id, user_scales)))
        except InputError as exc:
            problems.append(f"{shown(path)} ({row.where} line {row.line}): {printable(exc)}")
            return None
    if not resolved:
        try:
            return resolve_grade(suffix or "", scale_id, user_scales)
        except InputError as exc:
            problems.append(f"{shown(path)}: {printable(exc)}")
            return None
    first, grade = resolved[0]
    for row, other in resolved[1:]:
        if other != grade:
            problems.append(
                f"{shown(path)}: {first.where} line {first.line} says "
                f"{printable(first.grade)} but {row.where} line {row.line} says "
                f"{printable(row.grade)}; make them agree (or remove one of the files)")
            return None
    if suffix is not None:
        try:
            named = resolve_grade(suffix, scale_id, user_scales)
        except InputError:
            return grade  # the suffix is no grade: nothing to contradict
        if named != grade:
            problems.append(
                f"{shown(path)}: {first.where} line {first.line} says "
                f"{printable(first.grade)} but the file name says {printable(suffix)}; make "
                "them agree (fix the row or rename the file)")
            return None
    return grade


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    return next((header.index(n) for n in names if n in header), None)


def _anchor_stems(folder: Path) -> dict[str, str]:
    """Anchor file stem -> file name (to match a CSV ANCHOR-ID without FILE-NAME)."""
    try:
        return {p.stem: p.name for p in folder.iterdir() if p.is_file()}
    except OSError:
        return {}
