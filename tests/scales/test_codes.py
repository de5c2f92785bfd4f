"""Grade codes from anchor labels and file names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cjgrade.errors import InputError
from cjgrade.scales import (
    get_scale,
    normalise_grade_code,
    parse_grade_from_filename,
    parse_grade_from_label,
)


@pytest.mark.parametrize(
    ("name", "grade"),
    [
        ("essay_017_C+.txt", "C+"),
        ("anchor_essay_eng_5_17_vt_001_F+.docx", "F+"),
        ("B2.docx", "B"),
        ("anchor_E-.txt", "E-"),
        ("anchor_e\u2212.txt", "E-"),
        ("anchor_D-2.md", "D-"),
        ("some/dir/essay_a2.txt", "A"),
    ],
)
def test_grade_from_filename(name: str, grade: str) -> None:
    """The grade is the part after the last '_', trailing digits stripped, upper-cased."""
    assert parse_grade_from_filename(name) == grade


@pytest.mark.parametrize(
    ("label", "grade"), [("F+1", "F+"), ("F+2", "F+"), ("B1", "B"), ("A", "A")]
)
def test_grade_from_label(label: str, grade: str) -> None:
    """ENG5 anchor labels carry a counter after the grade code."""
    assert parse_grade_from_label(label) == grade


def test_numeric_scale_grade_is_kept_when_the_scale_is_given() -> None:
    """With the national scale, a digit grade is not mistaken for a counter."""
    national = get_scale("eng5_np_national_9_step")
    assert parse_grade_from_filename("essay_003_7.txt", national) == "7"
    assert parse_grade_from_label("0", national) == "0"


def test_scale_aware_parsing_returns_the_scale_spelling_and_rejects_unknown() -> None:
    """With a scale, the parsed code is validated and returned in the scale's spelling."""
    legacy = get_scale("eng5_np_legacy_9_step")
    assert parse_grade_from_filename("x_c\u22121.txt", legacy) == "C-"
    with pytest.raises(InputError, match=r"essay_9_Q\.txt"):
        parse_grade_from_filename("essay_9_Q.txt", legacy)


@pytest.mark.parametrize("name", ["essay_017.txt", "essay_.txt", "123.docx"])
def test_names_without_a_grade_are_errors(name: str) -> None:
    """A name whose last part is only digits (or empty) gives InputError, not an empty grade."""
    with pytest.raises(InputError, match="no grade code"):
        parse_grade_from_filename(name)


def test_normalise_grade_code() -> None:
    """Normalisation trims, upper-cases and maps typographic dashes to '-'."""
    assert normalise_grade_code(" e\u2212 ") == "E-"
    assert normalise_grade_code("d\u2013") == "D-"
    assert normalise_grade_code("C+") == "C+"


@settings(max_examples=60, deadline=None)
@given(
    scale_id=st.sampled_from(["swedish_8_anchor", "eng5_np_legacy_9_step"]),
    data=st.data(),
    prefix=st.from_regex(r"[a-z0-9]{1,8}(_[a-z0-9]{1,5}){0,3}", fullmatch=True),
    counter=st.one_of(st.just(""), st.integers(0, 99).map(str)),
    unicode_minus=st.booleans(),
    lower=st.booleans(),
)
def test_every_letter_grade_round_trips_through_a_file_name(
    scale_id: str, data: st.DataObject, prefix: str, counter: str, unicode_minus: bool, lower: bool
) -> None:
    """Any prefix, optional counter, case and minus sign: the file name yields the grade."""
    scale = get_scale(scale_id)
    grade = data.draw(st.sampled_from(scale.grades))
    code = grade.replace("-", "\u2212") if unicode_minus else grade
    code = code.lower() if lower else code
    name = f"{prefix}_{code}{counter}.docx"
    assert parse_grade_from_filename(name, scale) == grade
    assert parse_grade_from_filename(name) == grade
