"""The store's view of grade scales, delegating to ``cjgrade.scales`` (built-in scales)."""

from __future__ import annotations

from cjgrade.errors import ConfigError, InputError
from cjgrade.scales import get_scale, validate_grade

__all__ = ["check_grade", "check_scale"]


def check_scale(scale_id: str) -> str:
    """Return ``scale_id`` if it names a known scale, else raise :class:`InputError`."""
    try:
        get_scale(scale_id)
    except ConfigError as exc:  # unknown scale in a request is the caller's input error
        raise InputError(str(exc)) from None
    return scale_id


def check_grade(scale_id: str, grade: str) -> str:
    """The scale's own spelling of ``grade`` (``"b"`` -> ``"B"``, a Unicode minus -> ``"-"``);
    the below-lowest grade is accepted. :class:`InputError` lists the valid grades otherwise."""
    check_scale(scale_id)
    if not isinstance(grade, str):
        raise InputError(f"grade must be text, not {type(grade).__name__}")
    return validate_grade(get_scale(scale_id), grade)
