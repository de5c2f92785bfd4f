"""Anchor grades from input folders, checked against the batch's grade scale.

A raw grade comes from ``anchors/anchors.csv`` or a file-name suffix (``essay_017_C+.txt``);
``cjgrade.scales`` turns it into the scale's spelling (``F+1`` and ``B2`` are an F+ and a B,
the counter dropped) or refuses it with the scale's grades listed.
"""

from __future__ import annotations

from collections.abc import Iterable

from cjgrade.errors import InputError
from cjgrade.scales import GradeScale, get_scale, parse_grade_from_label

__all__ = ["resolve_grade", "scale_grades"]


def scale_grades(scale_id: str, user_scales: Iterable[GradeScale] = ()) -> tuple[str, ...]:
    """The grades of a scale, lowest first (ConfigError for an unknown scale)."""
    return tuple(str(g) for g in get_scale(scale_id, user_scales).grades)


def resolve_grade(raw: str, scale_id: str, user_scales: Iterable[GradeScale] = ()) -> str:
    """The scale's grade for a raw anchor grade; InputError when the scale lacks it."""
    scale = get_scale(scale_id, user_scales)
    try:
        return parse_grade_from_label(raw, scale)
    except InputError as exc:
        raise InputError(
            f"{exc}; fix the file name or anchors.csv, or set grade_scale in config.toml"
        ) from exc
