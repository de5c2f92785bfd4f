"""Anchor grades from input folders, checked against the batch's grade scale.

A raw grade comes from ``anchors/anchors.csv`` or a file-name suffix (``essay_017_C+.txt``);
``cjgrade.scales`` turns it into the scale's spelling (``F+1`` and ``B2`` are an F+ and a B,
the counter dropped) or refuses it with the scale's grades listed. :func:`parse_anchor_csv`
reads ``anchors.csv`` and says what is expected of it when it is not that.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from cjgrade.display import printable
from cjgrade.errors import InputError
from cjgrade.scales import GradeScale, get_scale, parse_grade_from_label

__all__ = ["ANCHORS_CSV", "ANCHORS_CSV_HEADER", "CsvGrade", "parse_anchor_csv", "resolve_grade"]


def resolve_grade(raw: str, scale_id: str, user_scales: Iterable[GradeScale] = ()) -> str:
    """The scale's grade for a raw anchor grade; InputError when the scale lacks it."""
    scale = get_scale(scale_id, user_scales)
    try:
        return parse_grade_from_label(raw, scale)
    except InputError as exc:
        raise InputError(
            f"{exc}; fix the file name or anchors.csv, or set grade_scale in config.toml"
        ) from exc


ANCHORS_CSV = "anchors.csv"
ANCHORS_CSV_HEADER = "file_name,grade"
_EXPECTED = (f"expected a UTF-8, comma-separated file whose first line is the header "
             f"`{ANCHORS_CSV_HEADER}`, then one anchor per line such as `essay_017.txt,C+`")


@dataclass(frozen=True)
class CsvGrade:
    """One row of ``anchors/anchors.csv``: the raw grade and the line it is on."""

    grade: str
    line: int


def parse_anchor_csv(where: str, raw: bytes, problems: list[str]) -> dict[str, CsvGrade]:
    """The rows of ``anchors/anchors.csv`` (``file_name,grade``) by file name.

    ``where`` names the file in messages (already printable). Every problem (encoding, a
    ``;`` or tab delimiter, a wrong header, a short or long row, a file listed twice) is
    appended to ``problems`` with what is expected; the good rows are returned.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{where}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                        f"{exc.start}); {_EXPECTED} (in Excel: Save As 'CSV UTF-8')")
        return {}
    if "\x00" in text:
        problems.append(f"{where}: contains a NUL character, so it is not a CSV file; {_EXPECTED}")
        return {}
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        problems.append(f"{where}: not valid CSV ({exc}); {_EXPECTED}")
        return {}
    rows_at = [(n, row) for n, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    if not rows_at:
        problems.append(f"{where}: is empty; {_EXPECTED}, or delete it to take grades from the "
                        "file names")
        return {}
    header_line, header = rows_at[0]
    columns = [printable(c.strip().lower()) for c in header]
    if "file_name" not in columns or "grade" not in columns:
        joined = ",".join(header)
        delimiter = next((d for d in (";", "\t", "|") if d in joined and len(header) == 1), None)
        found = printable(joined)
        if delimiter is not None:
            problems.append(
                f"{where}: columns are separated by {delimiter!r}, not commas (header "
                f"`{found}`); {_EXPECTED} (in Excel: Save As 'CSV UTF-8 (Comma delimited)')"
            )
        else:
            problems.append(f"{where} line {header_line}: the header is `{found}`; {_EXPECTED}")
        return {}
    i_name, i_grade = columns.index("file_name"), columns.index("grade")
    grades: dict[str, CsvGrade] = {}
    for line, row in rows_at[1:]:
        if len(row) > len(header):
            problems.append(
                f"{where} line {line}: {len(row)} values but the header has {len(header)}; put "
                "a value with a comma in double quotes, or remove the extra value"
            )
            continue
        name = row[i_name].strip() if i_name < len(row) else ""
        grade = row[i_grade].strip() if i_grade < len(row) else ""
        if not name or not grade:
            problems.append(f"{where} line {line}: needs both file_name and grade, as in "
                            "`essay_017.txt,C+`")
            continue
        if name in grades:
            problems.append(
                f"{where} line {line}: '{printable(name)}' is listed again (first on line "
                f"{grades[name].line}); keep one row per file"
            )
            continue
        grades[name] = CsvGrade(grade, line)
    return grades
