"""Grade scales as data: the built-ins, user scales from TOML, and grade-code parsing.

Entry points::

    get_scale(scale_id, user_scales=()) -> GradeScale      # ConfigError lists the known ids
    list_scales(user_scales=()) -> tuple[GradeScale, ...]
    load_scales_file(path) -> tuple[GradeScale, ...]       # the only function that reads a file
    validate_grade(scale, grade) -> str        # the scale's own spelling; accepts below-lowest
    grade_index(scale, grade) -> int                       # 0 = lowest, -1 = below-lowest
    parse_grade_from_filename("essay_017_C+.txt") -> "C+"
    parse_grade_from_label("F+1") -> "F+"
"""

from cjgrade.scales.builtin import BUILTIN_SCALES, DEFAULT_SCALE_ID
from cjgrade.scales.codes import (
    normalise_grade_code,
    parse_grade_from_filename,
    parse_grade_from_label,
)
from cjgrade.scales.model import BELOW_LOWEST_INDEX, GradeScale, grade_index, validate_grade
from cjgrade.scales.registry import get_scale, list_scales
from cjgrade.scales.toml_loader import load_scales_file, parse_scales_toml

__all__ = [
    "BELOW_LOWEST_INDEX",
    "BUILTIN_SCALES",
    "DEFAULT_SCALE_ID",
    "GradeScale",
    "get_scale",
    "grade_index",
    "list_scales",
    "load_scales_file",
    "normalise_grade_code",
    "parse_grade_from_filename",
    "parse_grade_from_label",
    "parse_scales_toml",
    "validate_grade",
]
