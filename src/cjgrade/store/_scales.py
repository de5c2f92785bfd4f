"""The store's view of grade scales: the built-ins of ``cjgrade.scales`` plus the user scales
the store was opened with (``CJGRADE_SCALES_FILE``), which ride on each session's ``info``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.errors import ConfigError, InputError
from cjgrade.scales import GradeScale, get_scale, validate_grade

__all__ = ["USER_SCALES_KEY", "check_grade", "check_scale", "user_scales_of"]

USER_SCALES_KEY = "cjgrade.user_scales"
"""Key of the user scales in ``Session.info`` (set by :class:`cjgrade.store.Store`)."""


def user_scales_of(session: AsyncSession) -> Sequence[GradeScale]:
    """The user scales known to the store behind ``session`` (none for a bare session)."""
    scales: Sequence[GradeScale] = session.info.get(USER_SCALES_KEY, ())
    return scales


def _scale(session: AsyncSession, scale_id: str) -> GradeScale:
    try:
        return get_scale(scale_id, user_scales_of(session))
    except ConfigError as exc:  # an unknown scale in a request is the caller's input error
        raise InputError(str(exc)) from None


def check_scale(session: AsyncSession, scale_id: str) -> str:
    """Return ``scale_id`` if it names a known scale, else raise :class:`InputError`."""
    _scale(session, scale_id)
    return scale_id


def check_grade(session: AsyncSession, scale_id: str, grade: str) -> str:
    """The scale's own spelling of ``grade`` (``"b"`` -> ``"B"``, a Unicode minus -> ``"-"``);
    the below-lowest grade is accepted. :class:`InputError` lists the valid grades otherwise."""
    scale = _scale(session, scale_id)
    if not isinstance(grade, str):
        raise InputError(f"grade must be text, not {type(grade).__name__}")
    return validate_grade(scale, grade)
