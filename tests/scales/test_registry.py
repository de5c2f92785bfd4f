"""Built-in scales, lookup and grade validation."""

from __future__ import annotations

import math

import pytest

from cjgrade.errors import ConfigError, InputError
from cjgrade.scales import (
    BELOW_LOWEST_INDEX,
    DEFAULT_SCALE_ID,
    GradeScale,
    get_scale,
    grade_index,
    list_scales,
    validate_grade,
)


def test_builtin_scales_match_the_specification() -> None:
    """The three built-in scales have the grades, priors and below-lowest codes of the spec."""
    sw = get_scale("swedish_8_anchor")
    assert sw.grades == ("F", "E", "D", "D+", "C", "C+", "B", "A")
    assert sw.priors == (0.02, 0.08, 0.15, 0.20, 0.25, 0.15, 0.10, 0.05)
    assert not sw.allows_below_lowest
    legacy = get_scale("eng5_np_legacy_9_step")
    assert legacy.grades == ("F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A")
    assert legacy.below_lowest_grade == "F"
    national = get_scale("eng5_np_national_9_step")
    assert national.grades == tuple(str(i) for i in range(1, 10))
    assert national.below_lowest_grade == "0"
    for scale in (legacy, national):
        assert all(math.isclose(p, 1 / 9) for p in scale.priors)
    assert DEFAULT_SCALE_ID == "swedish_8_anchor"


def test_unknown_scale_error_lists_known_ids() -> None:
    """An unknown id raises ConfigError naming every known scale."""
    with pytest.raises(ConfigError) as exc:
        get_scale("nope")
    for scale in list_scales():
        assert scale.scale_id in str(exc.value)


def test_user_scale_is_found_and_cannot_shadow_a_builtin() -> None:
    """User scales are listed after the built-ins; reusing a built-in id is a ConfigError."""
    mine = GradeScale("pass_fail", "Pass/fail", ("fail", "pass"), (0.3, 0.7))
    assert get_scale("pass_fail", [mine]) is mine
    assert list_scales([mine])[-1] is mine
    clash = GradeScale("swedish_8_anchor", "x", ("a", "b"), (0.5, 0.5))
    with pytest.raises(ConfigError, match="defined twice"):
        get_scale("pass_fail", [clash])


def test_grade_index_and_below_lowest() -> None:
    """Grades index from 0 (lowest); the below-lowest code maps to -1 where the scale has one."""
    legacy = get_scale("eng5_np_legacy_9_step")
    assert grade_index(legacy, "F+") == 0
    assert grade_index(legacy, "A") == 8
    assert grade_index(legacy, "F") == BELOW_LOWEST_INDEX == -1
    sw = get_scale("swedish_8_anchor")
    assert grade_index(sw, "F") == 0
    assert grade_index(get_scale("eng5_np_national_9_step"), "0") == -1


def test_validate_grade_normalises_case_and_unicode_minus() -> None:
    """Lower case and the Unicode minus sign match the scale's ASCII spelling."""
    legacy = get_scale("eng5_np_legacy_9_step")
    assert validate_grade(legacy, "e\u2212") == "E-"
    assert validate_grade(legacy, " d- ") == "D-"
    assert validate_grade(legacy, "f") == "F"


def test_validate_grade_rejects_unknown_codes_with_the_valid_list() -> None:
    """A grade not on the scale raises InputError listing the valid grades."""
    sw = get_scale("swedish_8_anchor")
    with pytest.raises(InputError, match=r"valid grades are \['F', 'E'"):
        validate_grade(sw, "E-")
    with pytest.raises(InputError):
        grade_index(sw, "0")


@pytest.mark.parametrize(
    ("grades", "priors", "below", "message"),
    [
        (("A",), (1.0,), None, "at least 2"),
        (("A", "a"), (0.5, 0.5), None, "duplicate"),
        (("E-", "E\u2212"), (0.5, 0.5), None, "duplicate"),
        (("A", "B"), (0.5, 0.6), None, "sum to 1.1"),
        (("A", "B"), (1.0,), None, "one prior per grade"),
        (("A", "B"), (1.0, 0.0), None, "positive"),
        (("A", ""), (0.5, 0.5), None, "empty grade"),
        (("A", "B"), (0.5, 0.5), "a", "also a named grade"),
    ],
)
def test_invalid_scales_are_rejected(
    grades: tuple[str, ...], priors: tuple[float, ...], below: str | None, message: str
) -> None:
    """Malformed scales raise ConfigError with a message saying what is wrong."""
    with pytest.raises(ConfigError, match=message):
        GradeScale("bad", "Bad", grades, priors, below_lowest_grade=below)


def test_priors_within_tolerance_are_accepted() -> None:
    """Priors summing to 1 within 0.01 are accepted (rounded published shares)."""
    scale = GradeScale("rounded", "R", ("a", "b", "c"), (0.33, 0.33, 0.33))
    assert scale.n_grades == 3
