"""Dataset adapters of ``cjgrade eval`` and their errors (all raised before any judging)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjgrade.errors import InputError
from cjgrade.evaluation.datasets import load_dataset
from tests.evaluation.data import essay_text, scored_rows, write_csv

ASAP_HEADER = ["essay_id", "essay_set", "essay", "rater1_domain1", "rater2_domain1",
               "rater3_domain1", "domain1_score"]


def test_generic_csv_with_sets_and_second_rater(tmp_path: Path) -> None:
    rows = scored_rows({1: 2, 2: 2}, essay_set="7")
    essays = load_dataset(write_csv(tmp_path / "d.csv", rows))
    assert [(e.essay_id, e.essay_set, e.score) for e in essays] == [
        ("e0", "7", 1), ("e1", "7", 1), ("e2", "7", 2), ("e3", "7", 2)]
    assert essays[0].text == essay_text(0, 1)
    assert [e.rater2 for e in essays] == [1, 1, 2, 2] and essays[0].rater1 is None


def test_generic_csv_without_set_is_one_set(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", [{"id": "a", "text": "one two", "score": "3"},
                                          {"id": "b", "text": "three", "score": "4.0"}])
    essays = load_dataset(path)
    assert {e.essay_set for e in essays} == {"all"}
    assert [e.score for e in essays] == [3, 4] and essays[0].rater2 is None


def test_asap_tsv_keeps_both_raters(tmp_path: Path) -> None:
    rows = [dict(zip(ASAP_HEADER, r, strict=True)) for r in (
        ["10", "1", 'He said "hi"\tthen left.', "4", "4", "", "8"],
        ["11", "1", "Another essay.", "3", "5", "", "8"],
        ["12", "2", "Third.", "2", "", "", "2"])]
    essays = load_dataset(write_csv(tmp_path / "asap.tsv", rows, delimiter="\t"))
    assert [(e.essay_id, e.essay_set, e.score, e.rater1, e.rater2) for e in essays] == [
        ("10", "1", 8, 4, 4), ("11", "1", 8, 3, 5), ("12", "2", 2, 2, None)]
    assert essays[0].text == 'He said "hi"\tthen left.'


def test_folder_of_text_files_with_scores_csv(tmp_path: Path) -> None:
    folder = tmp_path / "essays"
    folder.mkdir()
    (folder / "anna.txt").write_text("Anna's essay.", encoding="utf-8")
    (folder / "ben.md").write_text("Ben's essay.", encoding="utf-8")
    write_csv(folder / "scores.csv", [{"id": "anna.txt", "score": "2", "set": "x"},
                                      {"id": "ben", "score": "5", "set": "x"}])
    essays = load_dataset(folder)
    assert [(e.essay_id, e.text, e.score) for e in essays] == [
        ("anna.txt", "Anna's essay.", 2), ("ben", "Ben's essay.", 5)]


@pytest.mark.parametrize(("rows", "message"), [
    ([{"id": "a", "text": "x", "score": "B+"}], r"d.csv:2: score 'B\+' is not a number"),
    ([{"id": "a", "text": "x", "score": "2.5"}], "2.5 is not a whole number"),
    ([{"id": "a", "text": "x", "score": ""}], "score is empty"),
    ([{"id": "a", "text": "  \n ", "score": "1"}], "d.csv:2: the essay text is empty"),
    ([{"id": "a", "text": "x", "score": "1"}, {"id": "a", "text": "y", "score": "2"}],
     r"duplicate essay ids \['a'\]"),
    ([{"id": "a", "text": "x", "score": "1", "rater2": "two"}], "rater2 'two' is not a number"),
    ([{"id": "a", "body": "x", "score": "1"}], "expected id,text,score"),
    ([], "has no essays"),
])
def test_bad_files_are_refused_with_the_line(tmp_path: Path, rows: list[dict[str, str]],
                                              message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_dataset(write_csv(tmp_path / "d.csv", rows))


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no scores\.csv"):
        load_dataset(tmp_path)
    write_csv(tmp_path / "scores.csv", [{"id": "ghost", "score": "1"}])
    with pytest.raises(InputError, match="no text file for id 'ghost'"):
        load_dataset(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        load_dataset(tmp_path / "missing.csv")
