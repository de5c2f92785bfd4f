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


# --- anchors/anchors.csv in an anchor folder; the CSV's ANCHOR-ID ----------------------------


def _project_anchors(folder: Path, csv_text: str | None = None) -> Path:
    """A project-layout anchors/ folder: names without grades, grades in anchors.csv."""
    folder.mkdir(parents=True)
    for i, name in enumerate(("weak.txt", "middle.txt", "strong.txt"), start=1):
        (folder / name).write_text(f"Anchor essay {i}. " + "reasoned " * (4 * i), "utf-8")
    (folder / "anchors.csv").write_text(
        csv_text if csv_text is not None
        else "file_name,grade\nweak.txt,F+\nmiddle.txt,D+\nstrong.txt,A\n", encoding="utf-8")
    return folder


def test_an_anchor_dir_with_anchors_csv_takes_its_grades(tmp_path: Path) -> None:
    """A project-layout anchors/ folder as --anchor-dir of an ENG5 folder: anchors.csv is the
    grade file (as in `cjgrade run`), not 'a CSV among the essays'."""
    root = write_eng5_folder(tmp_path / "in")
    anchors = _project_anchors(tmp_path / "proj" / "anchors")
    inputs = read_inputs(root, scale_id=SCALE, anchor_dir=anchors)
    assert {a.file_name: a.grade for a in inputs.folder.anchors} == {
        "weak.txt": "F+", "middle.txt": "D+", "strong.txt": "A"}


def test_anchors_csv_problems_are_reported_with_the_file(tmp_path: Path) -> None:
    root = write_eng5_folder(tmp_path / "in")
    anchors = _project_anchors(tmp_path / "anchors", "file_name,grade\nweak.txt,F+\n"
                               "middle.txt,Q\ngone.txt,B\n")
    (anchors / "strong.txt").unlink()
    (anchors / "extra.csv").write_text("x,y\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_inputs(root, scale_id=SCALE, anchor_dir=anchors)
    message = str(caught.value)
    assert "anchors.csv line 3" in message and "middle.txt" in message  # Q is no grade
    assert "lists 'gone.txt', which is not in" in message
    assert "extra.csv: only anchors/anchors.csv is read" in message


def test_the_eng5_csv_and_anchors_csv_must_agree(tmp_path: Path) -> None:
    root = write_eng5_folder(tmp_path / "in")
    anchors = _project_anchors(root / "my_anchors")
    (root / ENG5_CSV).write_text("ANCHOR-ID,FILE-NAME,grade\nW1,weak.txt,E-\nS1,strong.txt,A\n",
                                 encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_inputs(root, scale_id=SCALE, anchor_dir=anchors)
    assert (f"{ENG5_CSV} line 2 says E- but " in str(caught.value)
            and "anchors.csv line 2 says F+" in str(caught.value))
    (root / ENG5_CSV).write_text("ANCHOR-ID,FILE-NAME,grade\nW1,weak.txt,F+\n", encoding="utf-8")
    inputs = read_inputs(root, scale_id=SCALE, anchor_dir=anchors)
    assert {a.file_name: a.grade for a in inputs.folder.anchors}["weak.txt"] == "F+"


def test_the_csv_anchor_id_is_kept_even_without_grades(tmp_path: Path) -> None:
    """ANCHOR-ID names the anchor (boundary-test pairs), whether or not the CSV has grades;
    rows of student essays and of files that are not anchors give no id."""
    root = write_eng5_folder(tmp_path / "in")
    (root / ENG5_CSV).write_text(
        "ANCHOR-ID,FILE-NAME,R1\nLOW1,anchor_essay_eng_5_17_vt_001_F+.txt,\n"
        "TOP6,anchor_essay_eng_5_17_vt_006_A.txt,\nTK24,student 4.txt,C+\n", encoding="utf-8")
    inputs = read_inputs(root, scale_id=SCALE)
    assert inputs.anchor_ids == {"anchor:anchor_essay_eng_5_17_vt_001_F+": "LOW1",
                                 "anchor:anchor_essay_eng_5_17_vt_006_A": "TOP6"}


def test_a_project_folder_with_an_anchor_dir_reads_its_own_students(env: Path) -> None:
    """A cjgrade folder (instructions.md, students/, config.toml) with --anchor-dir: the
    anchors come from that folder, everything else from the project folder."""
    root = env / "proj"
    (root / "students").mkdir(parents=True)
    (root / "instructions.md").write_text("Judge the essays.\n", encoding="utf-8")
    (root / "config.toml").write_text('grade_scale = "eng5_np_legacy_9_step"\n', "utf-8")
    for i in range(3):
        (root / "students" / f"s{i}.md").write_text(f"student {i} " * (i + 3), "utf-8")
    anchors = _project_anchors(env / "elsewhere")
    code, out = run_cli(["--mode", "plan", "--input-dir", str(root), "--anchor-dir",
                         str(anchors), *JUDGE])
    assert code == 0, out
    assert f"Anchor essays: 3 files under {anchors}" in out
    assert "PLAN mode complete. Inventory: 3 anchors, 3 students" in out
