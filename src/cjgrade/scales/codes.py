"""Grade codes: normalisation and extraction from anchor labels and file names.

Anchor files and labels carry their expert grade in the name: ``essay_017_C+.txt`` is a C+,
the ENG5 labels ``F+1``, ``F+2`` and ``B2`` are grades F+, F+ and B (a counter follows the code).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING

from cjgrade.errors import InputError

if TYPE_CHECKING:
    from cjgrade.scales.model import GradeScale

__all__ = ["normalise_grade_code", "parse_grade_from_filename", "parse_grade_from_label"]

# Typographic dashes people type (or word processors substitute) for a grade's minus sign.
_DASHES = {"\u2212": "-", "\u2013": "-", "\u2010": "-", "\u2011": "-"}


def normalise_grade_code(code: str) -> str:
    """Canonical comparison form of a grade code: trimmed, upper-case, ASCII ``-``.

    The Unicode minus sign (U+2212) and the en dash / hyphen variants are mapped to ``-``, so
    ``"e−"`` and ``"E-"`` are the same grade.
    """
    text = code.strip()
    for dash, ascii_dash in _DASHES.items():
        text = text.replace(dash, ascii_dash)
    return text.upper()


def parse_grade_from_label(label: str, scale: GradeScale | None = None) -> str:
    """Grade code from an anchor label such as ``"F+1"`` -> ``"F+"`` or ``"B2"`` -> ``"B"``.

    Rule: normalise the label; if a ``scale`` is given and the whole label already is one of its
    grades (the national scale's ``"7"``), return that grade; otherwise strip trailing digits
    (an anchor counter) and, with a ``scale``, return its spelling of what remains.

    Raises
    ------
    InputError
        When nothing but digits is left, or (with a scale) the code is not a grade of it.
    """
    from cjgrade.scales.model import validate_grade

    token = normalise_grade_code(label)
    if scale is not None:
        for code in (*scale.grades, scale.below_lowest_grade):
            if code is not None and normalise_grade_code(code) == token:
                return code
    stripped = token.rstrip("0123456789")
    if not stripped:
        raise InputError(
            f"no grade code in {label!r}: after removing the trailing counter nothing is left; "
            "name anchors like 'essay_017_C+' or 'B2'"
        )
    if scale is None:
        return stripped
    return validate_grade(scale, stripped)


def parse_grade_from_filename(name: str, scale: GradeScale | None = None) -> str:
    """Grade code from a file name: ``"essay_017_C+.txt"`` -> ``"C+"``.

    Rule: take the file name's stem (the last suffix removed), keep the part after the last
    ``"_"`` (the whole stem when there is none), then apply :func:`parse_grade_from_label`.
    ``anchor_essay_eng_5_17_vt_001_F+.docx`` -> ``"F+"``, ``B2.docx`` -> ``"B"``.

    Raises
    ------
    InputError
        When the name carries no grade code (or, with a scale, an unknown one); the message
        names the file.
    """
    stem = PurePath(name).stem
    token = stem.rsplit("_", 1)[-1]
    if not token.strip():
        raise InputError(f"no grade code in file name {name!r}: it ends with '_'")
    try:
        return parse_grade_from_label(token, scale)
    except InputError as exc:
        raise InputError(f"file {name!r}: {exc}") from exc
