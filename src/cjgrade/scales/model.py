"""The grade-scale value type and its checks.

A :class:`GradeScale` is data: ordered grade codes (lowest first), a population prior per grade
(the expected share of essays with that grade), and optionally a *below-lowest* grade (a code
such as ``"F"`` or ``"0"`` for essays that fall below the lowest grade the anchors define).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cjgrade.errors import ConfigError, InputError
from cjgrade.scales.codes import normalise_grade_code

__all__ = ["BELOW_LOWEST_INDEX", "GradeScale", "grade_index", "validate_grade"]

#: Index returned by :func:`grade_index` for the below-lowest grade.
BELOW_LOWEST_INDEX = -1

_PRIOR_TOLERANCE = 0.01


@dataclass(frozen=True)
class GradeScale:
    """An ordered grade scale.

    Attributes
    ----------
    scale_id : identifier used on the command line, in files and in the store.
    display_name : human-readable name.
    grades : grade codes ordered from lowest to highest; unique (case-insensitively).
    priors : population prior per grade (same order); each > 0, summing to 1 within 0.01.
    description : free text.
    below_lowest_grade : code for essays below the lowest grade, or None when the scale has none.
    """

    scale_id: str
    display_name: str
    grades: tuple[str, ...]
    priors: tuple[float, ...]
    description: str = ""
    below_lowest_grade: str | None = None

    def __post_init__(self) -> None:
        check_scale(self)

    @property
    def allows_below_lowest(self) -> bool:
        """Whether the scale has a below-lowest grade."""
        return self.below_lowest_grade is not None

    @property
    def n_grades(self) -> int:
        """Number of (named, non-below-lowest) grades."""
        return len(self.grades)


def check_scale(scale: GradeScale) -> None:
    """Raise :class:`ConfigError` unless ``scale`` is a well-formed scale.

    Checked: a non-empty id; at least two grades; no empty or duplicate codes (compared after
    normalisation, so ``"E−"`` and ``"e-"`` clash); one prior per grade, each finite and > 0,
    summing to 1 within 0.01; a below-lowest code distinct from every grade.
    """
    where = f"grade scale {scale.scale_id!r}"
    if not scale.scale_id.strip():
        raise ConfigError("a grade scale needs a non-empty id")
    if len(scale.grades) < 2:
        raise ConfigError(f"{where} has {len(scale.grades)} grade(s); at least 2 are needed")
    keys = [normalise_grade_code(g) for g in scale.grades]
    if any(not k for k in keys):
        raise ConfigError(f"{where} has an empty grade code")
    dupes = sorted({g for g, k in zip(scale.grades, keys, strict=True) if keys.count(k) > 1})
    if dupes:
        raise ConfigError(f"{where} lists duplicate grades {dupes}; every grade must be unique")
    if len(scale.priors) != len(scale.grades):
        raise ConfigError(
            f"{where} has {len(scale.priors)} priors for {len(scale.grades)} grades; give one "
            "prior per grade (or none for uniform priors)"
        )
    if any(not math.isfinite(p) or p <= 0.0 for p in scale.priors):
        raise ConfigError(
            f"{where} has a prior that is not a positive number ({list(scale.priors)}); use a "
            "small positive share for rare grades"
        )
    total = math.fsum(scale.priors)
    if abs(total - 1.0) > _PRIOR_TOLERANCE + 1e-9:
        raise ConfigError(f"{where}: priors sum to {total:.4f}, they must sum to 1 (± 0.01)")
    if scale.below_lowest_grade is not None:
        below = normalise_grade_code(scale.below_lowest_grade)
        if not below:
            raise ConfigError(f"{where} has an empty below-lowest grade code")
        if below in keys:
            raise ConfigError(
                f"{where}: below-lowest grade {scale.below_lowest_grade!r} is also a named grade"
            )


def validate_grade(scale: GradeScale, grade: str) -> str:
    """Return the scale's own spelling of ``grade`` (matched after normalisation).

    The below-lowest grade is accepted when the scale has one.

    Raises
    ------
    InputError
        When ``grade`` is not a grade of ``scale``; the message lists the valid codes.
    """
    key = normalise_grade_code(grade)
    for code in scale.grades:
        if normalise_grade_code(code) == key:
            return code
    below = scale.below_lowest_grade
    if below is not None and normalise_grade_code(below) == key:
        return below
    valid = list(scale.grades) + ([below] if below is not None else [])
    raise InputError(
        f"grade {grade!r} is not on scale {scale.scale_id!r}; valid grades are {valid}"
    )


def grade_index(scale: GradeScale, grade: str) -> int:
    """Index of ``grade`` in ``scale.grades`` (0 = lowest), or ``BELOW_LOWEST_INDEX`` (-1).

    Raises
    ------
    InputError
        When ``grade`` is not a grade of ``scale``.
    """
    code = validate_grade(scale, grade)
    if code in scale.grades:
        return scale.grades.index(code)
    return BELOW_LOWEST_INDEX
