"""Grade scale from the score levels, anchors per level, students: and their errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from cjgrade.errors import InputError
from cjgrade.evaluation.datasets import ScoredEssay, load_dataset
from cjgrade.evaluation.design import by_set, design_set, set_scale
from cjgrade.scales import BUILTIN_SCALES, get_scale
from tests.evaluation.data import scored_rows, two_sets, write_csv


def _set(tmp_path: Path, levels: dict[int, int]) -> list[ScoredEssay]:
    return load_dataset(write_csv(tmp_path / "d.csv", scored_rows(levels)))


def test_scale_is_the_levels_with_their_shares(tmp_path: Path) -> None:
    scale = set_scale("1", _set(tmp_path, {0: 2, 1: 5, 3: 3}))
    assert scale.grades == ("0", "1", "3")
    assert scale.priors == pytest.approx((0.2, 0.5, 0.3))
    assert scale.scale_id not in {s.scale_id for s in BUILTIN_SCALES}
    assert get_scale(scale.scale_id, (scale,)) is scale  # only known where it is passed


def test_anchors_per_level_and_students_from_the_rest(tmp_path: Path) -> None:
    essays = _set(tmp_path, {0: 1, 1: 6, 2: 6, 3: 6})
    design = design_set("1", essays, anchors_per_level=2, students=10, seed=3)
    assert Counter(a.score for a in design.anchors) == {1: 2, 2: 2, 3: 2}
    assert design.unanchored_levels == (0,)
    assert len(design.students) == 10
    assert not {a.essay_id for a in design.anchors} & {s.essay_id for s in design.students}
    again = design_set("1", essays, anchors_per_level=2, students=10, seed=3)
    other = design_set("1", essays, anchors_per_level=2, students=10, seed=4)
    assert again == design
    assert (other.anchors, other.students) != (design.anchors, design.students)


def test_too_few_levels_for_the_anchors_asked(tmp_path: Path) -> None:
    essays = _set(tmp_path, {0: 3, 1: 1, 2: 1})
    with pytest.raises(InputError, match="only 1 of its 3 score levels have 2 essays"):
        design_set("1", essays, anchors_per_level=2, students=2, seed=0)
    with pytest.raises(InputError, match="every essay has score 0"):
        design_set("1", _set(tmp_path, {0: 4}), anchors_per_level=1, students=2, seed=0)


def test_too_many_students_asked(tmp_path: Path) -> None:
    essays = _set(tmp_path, {0: 3, 1: 3})
    with pytest.raises(InputError, match="2 essays are left after the 4 anchors; --students 3"):
        design_set("1", essays, anchors_per_level=2, students=3, seed=0)


def test_unknown_set(tmp_path: Path) -> None:
    essays = load_dataset(two_sets(tmp_path))
    assert list(by_set(essays, None)) == ["A", "B"]
    with pytest.raises(InputError, match=r"essay sets \['C'\] are not in the dataset"):
        by_set(essays, ["C"])
