"""Anchor grades from input folders, checked against the batch's grade scale.

A raw grade comes from ``anchors/anchors.csv`` or a file-name suffix (``essay_017_C+.txt``).
It is accepted as written when the scale has it; otherwise trailing digits are dropped and it is
upper-cased, as in the original's ENG5 file names (``F+1`` and ``B2`` are grades ``F+`` and
``B``). Anything else is an error that lists the scale's grades.
"""

from __future__ import annotations

import re

from cjgrade.errors import ConfigError, InputError

__all__ = ["resolve_grade", "scale_grades"]

_TRAILING_DIGITS = re.compile(r"\d+$")


def scale_grades(scale_id: str) -> tuple[str, ...]:
    """The grades of a scale, lowest first (ConfigError for an unknown scale)."""
    from cjgrade.scales import get_scale

    try:
        scale = get_scale(scale_id)
    except (KeyError, LookupError) as exc:
        raise ConfigError(f"unknown grade scale {scale_id!r}: {exc}") from exc
    return tuple(str(g) for g in scale.grades)


def resolve_grade(raw: str, scale_id: str) -> str:
    """The scale's grade for a raw anchor grade; InputError when the scale lacks it."""
    grades = scale_grades(scale_id)
    candidates = [raw.strip(), raw.strip().upper()]
    stripped = _TRAILING_DIGITS.sub("", raw.strip())
    if stripped:
        candidates += [stripped, stripped.upper()]
    for candidate in candidates:
        if candidate in grades:
            return candidate
    raise InputError(
        f"grade {raw!r} is not on the {scale_id} scale ({', '.join(grades)}); fix the file "
        "name or anchors.csv, or set grade_scale in config.toml"
    )
