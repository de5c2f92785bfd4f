"""The store's view of grade scales, delegating to ``cjgrade.scales``."""

from __future__ import annotations

from cjgrade.errors import ConfigError, InputError

__all__ = ["accepted_grades", "check_grade", "check_scale"]


def accepted_grades(scale_id: str) -> tuple[str, ...]:
    """The grades of a scale, low to high, plus its below-lowest grade if it has one.

    Raises :class:`InputError` for an unknown scale (with the known ones listed).
    """
    try:
        from cjgrade.scales import get_scale
    except ImportError as exc:  # pragma: no cover - only while the scales package is missing
        raise ConfigError(
            "grade scales are unavailable: cjgrade.scales.get_scale is missing"
        ) from exc
    try:
        scale = get_scale(scale_id)
    except (ConfigError, KeyError, LookupError) as exc:
        raise InputError(f"unknown grade scale {scale_id!r}: {exc}") from None
    grades = tuple(str(g) for g in scale.grades)
    below = getattr(scale, "below_lowest_grade", None)
    return (str(below), *grades) if below else grades


def check_scale(scale_id: str) -> str:
    """Return ``scale_id`` if it names a known scale, else raise :class:`InputError`."""
    accepted_grades(scale_id)
    return scale_id


def check_grade(scale_id: str, grade: str) -> str:
    """Return ``grade`` if the scale has it, else raise :class:`InputError` listing the grades."""
    grades = accepted_grades(scale_id)
    if grade not in grades:
        raise InputError(
            f"grade {grade!r} is not on scale {scale_id!r}; valid grades: {', '.join(grades)}"
        )
    return grade
