"""Looking up grade scales: the built-ins plus any user scales the caller passes in.

There is no global mutable registry: user scales (from :func:`load_scales_file`) are passed to
:func:`get_scale` / :func:`list_scales` explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable

from cjgrade.errors import ConfigError
from cjgrade.scales.builtin import BUILTIN_SCALES
from cjgrade.scales.model import GradeScale

__all__ = ["get_scale", "list_scales"]


def list_scales(user_scales: Iterable[GradeScale] = ()) -> tuple[GradeScale, ...]:
    """All known scales: the built-ins first, then ``user_scales`` in the given order.

    Raises
    ------
    ConfigError
        When a user scale reuses the id of a built-in or of another user scale.
    """
    scales = list(BUILTIN_SCALES)
    seen = {s.scale_id for s in scales}
    for scale in user_scales:
        if scale.scale_id in seen:
            raise ConfigError(
                f"grade scale id {scale.scale_id!r} is defined twice; built-in ids are "
                f"{[s.scale_id for s in BUILTIN_SCALES]} — rename the user scale"
            )
        seen.add(scale.scale_id)
        scales.append(scale)
    return tuple(scales)


def get_scale(scale_id: str, user_scales: Iterable[GradeScale] = ()) -> GradeScale:
    """The scale called ``scale_id``.

    Raises
    ------
    ConfigError
        For an unknown id; the message lists the known ids.
    """
    scales = list_scales(user_scales)
    for scale in scales:
        if scale.scale_id == scale_id:
            return scale
    known = ", ".join(s.scale_id for s in scales)
    raise ConfigError(
        f"unknown grade scale {scale_id!r}; known scales: {known} (user scales come from a TOML "
        "file, see docs/statistics-grading.md)"
    )
