"""The built-in grade scales (grades and priors as in the original system, section 2)."""

from __future__ import annotations

from cjgrade.scales.model import GradeScale

__all__ = ["BUILTIN_SCALES", "DEFAULT_SCALE_ID"]

DEFAULT_SCALE_ID = "swedish_8_anchor"

_UNIFORM_9 = (1.0 / 9.0,) * 9

BUILTIN_SCALES: tuple[GradeScale, ...] = (
    GradeScale(
        scale_id="swedish_8_anchor",
        display_name="Swedish 8-anchor",
        grades=("F", "E", "D", "D+", "C", "C+", "B", "A"),
        priors=(0.02, 0.08, 0.15, 0.20, 0.25, 0.15, 0.10, 0.05),
        description="Swedish school grades F-A with the intermediate anchor grades D+ and C+.",
    ),
    GradeScale(
        scale_id="eng5_np_legacy_9_step",
        display_name="ENG5 NP legacy 9-step",
        grades=("F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A"),
        priors=_UNIFORM_9,
        description="Swedish national test in English 5, legacy 9-step anchor grades.",
        below_lowest_grade="F",
    ),
    GradeScale(
        scale_id="eng5_np_national_9_step",
        display_name="ENG5 NP national 9-step",
        grades=("1", "2", "3", "4", "5", "6", "7", "8", "9"),
        priors=_UNIFORM_9,
        description="Swedish national test in English 5, numeric 9-step scale.",
        below_lowest_grade="0",
    ),
)
