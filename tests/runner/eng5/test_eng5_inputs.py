"""The runner's input folder: the ENG5 layout (names with spaces, parentheses, non-ASCII;
the root CSV with either spelling of its columns; grades with +/-), the project layout, and
every malformed input refused before anything is written or spent."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from cjgrade.errors import InputError
from cjgrade.runner.eng5.inputs import ENG5_CSV, read_inputs
from tests.runner.eng5.conftest import GRADES, STUDENTS, run_cli, write_eng5_folder

SCALE = "eng5_np_legacy_9_step"
JUDGE = ["--llm-provider", "heuristic", "--llm-model", "surface"]


def test_eng5_layout_keeps_real_export_names_and_suffix_grades(tmp_path: Path) -> None:
    root = write_eng5_folder(tmp_path / "in")
    inputs = read_inputs(root, scale_id=SCALE)
    folder = inputs.folder
    assert inputs.layout == "eng5"
    assert sorted(e.essay_id for e in folder.students) == sorted(STUDENTS)
    assert [a.grade for a in folder.anchors] == list(GRADES)  # + and - kept
    assert folder.anchors[0].essay_id == "anchor:anchor_essay_eng_5_17_vt_001_F+"
    # the instructions double as prompt and are sent once
    assert folder.prompt is None
    assert inputs.prompt_source == str(root / "eng5_np_vt_2017_essay_instruction.md")
    lines = [line.render() for line in inputs.inventory]
    assert lines[0].startswith("✅ Instructions")
    assert any(line.startswith("❌ Anchors CSV") for line in lines)
    assert "✅ Student essays: 4 files" in lines[-1]


@pytest.mark.parametrize("header", ["ANCHOR-ID,FILE-NAME,grade", "anchor_id,file_name,"
                                    "pred_mode_grade"])
def test_csv_grades_in_either_spelling_agree_with_the_names(tmp_path: Path,
                                                            header: str) -> None:
    root = write_eng5_folder(tmp_path / "in")
    rows = [f"A{i},anchor_essay_eng_5_17_vt_{i:03d}_{g}.txt,{g}"
            for i, g in enumerate(GRADES, start=1)]
    (root / ENG5_CSV).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    inputs = read_inputs(root, scale_id=SCALE)
    assert [a.grade for a in inputs.folder.anchors] == list(GRADES)
    assert inputs.csv_path is not None


def test_csv_anchor_id_without_file_name_matches_the_stem(tmp_path: Path) -> None:
    root = write_eng5_folder(tmp_path / "in", grades=("F+", "A"))
    (root / "anchor_essays" / "anchor_essay_eng_5_17_vt_001_F+.txt").rename(
        root / "anchor_essays" / "weak.txt")
    (root / ENG5_CSV).write_text("ANCHOR-ID,FILE-NAME,grade\nweak,,F+\n", encoding="utf-8")
    inputs = read_inputs(root, scale_id=SCALE)
    assert {a.essay_id: a.grade for a in inputs.folder.anchors}["anchor:weak"] == "F+"


def test_a_rater_csv_without_a_grade_column_is_a_warning(tmp_path: Path) -> None:
    """The real file holds per-rater grades of students: anchors keep their name grades."""
    root = write_eng5_folder(tmp_path / "in")
    (root / ENG5_CSV).write_text(
        "ANCHOR-ID,FILE-NAME,R1,R2\nTK24,student 4.txt,C+,B\n", encoding="utf-8")
    inputs = read_inputs(root, scale_id=SCALE)
    assert [a.grade for a in inputs.folder.anchors] == list(GRADES)
    assert any("no grade or pred_mode_grade column" in w for w in inputs.warnings)


def test_project_layout_is_read_by_the_project_reader(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "students").mkdir(parents=True)
    (root / "anchors").mkdir()
    (root / "instructions.md").write_text("Judge.\n", encoding="utf-8")
    (root / "config.toml").write_text('grade_scale = "eng5_np_legacy_9_step"\n', encoding="utf-8")
    for i, g in enumerate(("F+", "B"), start=1):
        (root / "anchors" / f"a{i}_{g}.txt").write_text(f"anchor {i} " * (i + 3), "utf-8")
    for i in range(2):
        (root / "students" / f"s{i}.md").write_text(f"student {i} " * (i + 3), "utf-8")
    inputs = read_inputs(root, scale_id=SCALE)
    assert inputs.layout == "cjgrade"
    assert len(inputs.folder.anchors) == 2 and len(inputs.folder.students) == 2


def _not_a_zip() -> bytes:
    return b"PK\x03\x04 this is not really a zip archive"


def _docx_like_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "no word document in here")
    return buf.getvalue()


BREAKAGES = {
    "empty essay": (("student_essays", "empty.txt"), b"   \n\n"),
    "non-UTF-8 text": (("student_essays", "latin1.txt"), "Åsa skrev väl".encode("latin-1")),
    "docx that is not a zip": (("student_essays", "broken.docx"), _not_a_zip()),
    "docx without a document": (("student_essays", "hollow.docx"), _docx_like_zip()),
    "grade not in the scale": (("anchor_essays", "anchor_essay_eng_5_17_vt_099_Q.txt"),
                               b"An anchor with an unknown grade."),
    "duplicate file names": (("student_essays", "student 4.md"), b"Same stem as student 4."),
}


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_malformed_inputs_are_refused_before_anything_is_written(env: Path, case: str) -> None:
    root = write_eng5_folder(env / "in")
    (folder, name), data = BREAKAGES[case]
    (root / folder / name).write_bytes(data)
    for mode in ("plan", "dry-run", "execute"):
        code, out = run_cli(["--mode", mode, "--input-dir", str(root), *JUDGE])
        assert code == 3, (mode, out)
        assert name in out, out
        assert "Traceback" not in out
    assert not (env / "eng5_runs").exists()  # no run folder, no artefact
    assert not (env / "home").exists()  # no store opened


def test_a_csv_grade_contradicting_the_file_name_is_an_error(env: Path) -> None:
    root = write_eng5_folder(env / "in")
    (root / ENG5_CSV).write_text(
        "ANCHOR-ID,FILE-NAME,grade\nA1,anchor_essay_eng_5_17_vt_001_F+.txt,B\n", "utf-8")
    code, out = run_cli(["--mode", "execute", "--input-dir", str(root), *JUDGE])
    assert code == 3
    assert "says B but the file name says F+" in out
    assert not (env / "eng5_runs").exists()


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    root = write_eng5_folder(tmp_path / "in")
    for (folder, name), data in BREAKAGES.values():
        (root / folder / name).write_bytes(data)
    with pytest.raises(InputError) as caught:
        read_inputs(root, scale_id=SCALE)
    message = str(caught.value)
    assert message.startswith("6 problem(s)")
    for (_, name), _ in BREAKAGES.values():
        assert name in message


def test_missing_folders_say_what_to_do(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "anchor_essays").mkdir(parents=True)
    with pytest.raises(InputError) as caught:
        read_inputs(root, scale_id=SCALE)
    text = str(caught.value)
    assert "eng5_np_vt_2017_essay_instruction.md: missing" in text
    assert "student_essays: missing; put the student essays in student_essays/" in text
