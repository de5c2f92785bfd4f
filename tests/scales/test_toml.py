"""User grade scales from TOML files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjgrade.errors import ConfigError
from cjgrade.scales import get_scale, grade_index, load_scales_file, parse_scales_toml

GOOD = """
[[scale]]
id = "ib_1_7"
display_name = "IB 1-7"
grades = ["1", "2", "3", "4", "5", "6", "7"]
priors = [0.03, 0.07, 0.15, 0.25, 0.25, 0.15, 0.10]
below_lowest_grade = "N"

[[scale]]
id = "pass_fail"
grades = ["fail", "pass"]
"""


def test_load_scales_file_reads_all_scales(tmp_path: Path) -> None:
    """Every [[scale]] table becomes a GradeScale; missing priors mean uniform priors."""
    path = tmp_path / "scales.toml"
    path.write_text(GOOD, encoding="utf-8")
    ib, pf = load_scales_file(path)
    assert ib.scale_id == "ib_1_7" and ib.display_name == "IB 1-7"
    assert ib.below_lowest_grade == "N"
    assert pf.priors == (0.5, 0.5) and pf.display_name == "pass_fail"
    assert grade_index(get_scale("ib_1_7", (ib, pf)), "n") == -1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scale = 3", "defines no grade scale"),
        ("[[scale]]\nid = 'x'\ngrades = ['a']", "at least 2"),
        ("[[scale]]\nid = 'x'\ngrades = ['a', 'A']", "duplicate"),
        ("[[scale]]\nid = 'x'\ngrades = ['a', 'b']\npriors = [0.2, 0.2]", "sum to 0.4"),
        ("[[scale]]\nid = 'x'\ngrades = ['a', 'b']\npriors = ['x', 'y']",
         r"\[\[scale\]\] #1 item 1 of priors must be a number, not str 'x'"),
        ("[[scale]]\ngrades = ['a', 'b']", r"\[\[scale\]\] #1 id is required"),
        ("[[scale]]\nid = 'x'\ngrades = 'ab'", "grades must be a list, not str 'ab'"),
        ("[[scale]]\nid = 'x'\ngrades = ['a', 'b']\ncolour = 1",
         r"unknown key 'colour' in \[\[scale\]\] #1; allowed: id, display_name, grades, "),
        ("[[scale]]\nid = 'x'\ngrades = ['a', 'b']\n[[scales]]\nid = 'y'",
         r"unknown key 'scales'; allowed: scale"),
        (
            "[[scale]]\nid = 'x'\ngrades = ['a', 'b']\n[[scale]]\nid = 'x'\ngrades = ['a', 'b']",
            "more than once",
        ),
        ("[[scale]\n", "not valid TOML"),
    ],
)
def test_invalid_toml_scales_raise_config_error(text: str, message: str) -> None:
    """Bad files raise ConfigError naming the source and the problem."""
    with pytest.raises(ConfigError, match=message) as exc:
        parse_scales_toml(text, source="my.toml")
    assert "my.toml" in str(exc.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing file raises ConfigError naming the path."""
    with pytest.raises(ConfigError, match="cannot read grade-scale file"):
        load_scales_file(tmp_path / "absent.toml")
