"""Reading input folders: documents of every supported type, grades, and refusals by name."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from cjgrade.errors import ConfigError, InputError
from cjgrade.runner.documents import read_document
from cjgrade.runner.inputs import grade_suffix, read_input_folder

ESSAY = "Phones distract students, so schools should collect them in the morning. " * 3


def identity_grade(raw: str, scale: str) -> str:
    """Accept grades of a small test scale only."""
    if raw not in {"F", "E", "D", "C", "B", "A", "C+"}:
        raise InputError(f"grade {raw!r} is not on scale {scale}")
    return raw


def make_pdf(path: Path, lines: list[str]) -> None:
    """Write a minimal valid one-page PDF with Helvetica text (objects and xref by hand)."""
    text_ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        text_ops.append(f"({escaped}) Tj T*")
    text_ops.append("ET")
    stream = "\n".join(text_ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
            .encode())
    path.write_bytes(bytes(out))


def make_docx(path: Path, paragraphs: list[str]) -> None:
    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    document.save(str(path))


def make_folder(root: Path, *, students: int = 3, anchors: dict[str, str] | None = None) -> Path:
    (root / "students").mkdir(parents=True)
    (root / "anchors").mkdir()
    (root / "instructions.md").write_text("Judge the better argument.", encoding="utf-8")
    for i in range(students):
        (root / "students" / f"s{i}.txt").write_text(f"{ESSAY} Student {i}.", encoding="utf-8")
    for name, text in (anchors or {"a_1_C.txt": ESSAY, "a_2_A.txt": ESSAY + " More."}).items():
        (root / "anchors" / name).write_text(text, encoding="utf-8")
    return root


def test_docx_text_is_read_paragraph_by_paragraph(tmp_path: Path) -> None:
    """A .docx essay is read with python-docx: every paragraph, in order."""
    path = tmp_path / "essay.docx"
    make_docx(path, ["First paragraph about phones.", "Second paragraph concludes."])
    doc = read_document(path)
    assert doc.text == "First paragraph about phones.\nSecond paragraph concludes."
    assert len(doc.sha256) == 64


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    """A .pdf essay's text layer is extracted with pypdf."""
    path = tmp_path / "essay.pdf"
    make_pdf(path, ["Mobile phones should be banned.", "They harm concentration."])
    text = read_document(path).text
    assert "Mobile phones should be banned." in text
    assert "They harm concentration." in text


def test_corrupt_docx_and_empty_files_are_named(tmp_path: Path) -> None:
    """A corrupt .docx, an empty .txt and a PDF without text are each refused by file name."""
    bad = tmp_path / "bad.docx"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(InputError, match=r"bad\.docx"):
        read_document(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(InputError, match=r"empty\.txt"):
        read_document(empty)
    blank_pdf = tmp_path / "scan.pdf"
    make_pdf(blank_pdf, [])
    with pytest.raises(InputError, match=r"scan\.pdf"):
        read_document(blank_pdf)


def test_folder_with_mixed_types_and_suffix_grades(tmp_path: Path) -> None:
    """Students in .txt/.md/.docx/.pdf are read; anchor grades come from file-name suffixes."""
    root = make_folder(tmp_path / "in", students=1)
    make_docx(root / "students" / "s_docx.docx", [ESSAY])
    make_pdf(root / "students" / "s_pdf.pdf", ["An essay in a PDF about phones in class."])
    (root / "students" / "s_md.md").write_text("# Title\n\n" + ESSAY, encoding="utf-8")
    (root / "students" / "~$lock.docx").write_bytes(b"word lock file")
    folder = read_input_folder(root, resolve_grade=identity_grade)
    assert sorted(e.file_name for e in folder.students) == [
        "s0.txt", "s_docx.docx", "s_md.md", "s_pdf.pdf"
    ]
    assert {e.grade for e in folder.anchors} == {"C", "A"}
    assert all(e.is_anchor and e.essay_id.startswith("anchor:") for e in folder.anchors)


def test_anchor_csv_overrides_suffix(tmp_path: Path) -> None:
    """Grades in anchors/anchors.csv (file_name,grade) are used when present."""
    root = make_folder(tmp_path / "in", anchors={"first.txt": ESSAY, "second.txt": ESSAY + "!"})
    (root / "anchors" / "anchors.csv").write_text(
        "file_name,grade\nfirst.txt,C+\nsecond.txt,E\n", encoding="utf-8"
    )
    folder = read_input_folder(root, resolve_grade=identity_grade)
    assert {e.file_name: e.grade for e in folder.anchors} == {"first.txt": "C+", "second.txt": "E"}


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Unreadable, empty and ungraded files are all listed by name in one error."""
    root = make_folder(tmp_path / "in", anchors={"x_Q.txt": ESSAY, "nograde_.txt": ESSAY})
    (root / "students" / "empty.txt").write_text("", encoding="utf-8")
    (root / "students" / "broken.docx").write_bytes(b"\x00\x01")
    (root / "students" / "notes.rtf").write_text("rtf", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_input_folder(root, resolve_grade=identity_grade)
    message = str(info.value)
    for name in ("empty.txt", "broken.docx", "notes.rtf", "x_Q.txt", "nograde_.txt"):
        assert name in message
    assert message.startswith("5 problem(s)")


def test_missing_instructions_and_students_are_refused(tmp_path: Path) -> None:
    """Without instructions.md and students/ the folder is refused, saying what to add."""
    root = tmp_path / "in"
    root.mkdir()
    with pytest.raises(InputError, match=r"instructions\.md.*\n.*students"):
        read_input_folder(root, resolve_grade=identity_grade)


def test_config_toml_sets_metadata_and_options(tmp_path: Path) -> None:
    """config.toml gives label, scale, judge and [run] options; flags override [run]."""
    root = make_folder(tmp_path / "in")
    (root / "config.toml").write_text(
        'label = "t"\ngrade_scale = "eng5_np_legacy_9_step"\njudge = "heuristic/surface"\n'
        "[run]\nbudget = 40\nseed = 3\ntarget_reliability = 0.8\n",
        encoding="utf-8",
    )
    folder = read_input_folder(root, resolve_grade=identity_grade,
                               option_overrides={"budget": 12})
    assert (folder.label, folder.grade_scale, folder.judge) == (
        "t", "eng5_np_legacy_9_step", "heuristic/surface")
    options = folder.options
    assert (options.budget, options.seed, options.target_reliability) == (12, 3, 0.8)


def test_config_toml_of_an_earlier_release_still_reads(tmp_path: Path) -> None:
    """``target_ssr``, the old name of ``target_reliability``, still sets the target."""
    root = make_folder(tmp_path / "in")
    (root / "config.toml").write_text("[run]\ntarget_ssr = 0.75\n", encoding="utf-8")
    assert read_input_folder(root, resolve_grade=identity_grade).options.target_reliability \
        == 0.75


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("colour = 'red'\n", r"config.toml: unknown key 'colour'; allowed: label, "),
        ("[run]\nbudjet = 3\n",
         r"config.toml: unknown key 'budjet' in \[run\]; allowed: budget, target_reliability, "),
        ("[engine]\nbudget = 3\n", r"unknown section \[engine\]; allowed sections: \[run\]"),
        ("[run]\nbudget = 0\n", "budget must be at least 1"),
        ("[run]\ntarget_reliability = 2\n", "target_reliability must be at most 1"),
        ("[run]\nposition_effect = 1\n", "position_effect must be true or false, not int 1"),
        ("max_file_mb = -1\n", "max_file_mb must be a positive number of megabytes"),
        ("label = [\n", "not valid TOML"),
        ('grade_scale = "no_such"\n', "unknown grade scale 'no_such'; known scales"),
        ("label = 3\n", "label must be a quoted string"),
        ('[run]\nseed = "x"\n', "seed must be a whole number, not str 'x'"),
        ('scales_file = "missing.toml"\n', "cannot read grade-scale file"),
    ],
)
def test_bad_config_is_a_config_error(tmp_path: Path, text: str, match: str) -> None:
    """Unknown keys, out-of-range values and broken TOML are errors, never ignored."""
    root = make_folder(tmp_path / "in")
    (root / "config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        read_input_folder(root, resolve_grade=identity_grade)


def test_grade_suffix_takes_the_part_after_the_last_underscore() -> None:
    """essay_017_C+.txt has grade suffix C+; without an underscore the stem is the grade."""
    assert grade_suffix("essay_017_C+.txt") == "C+"
    assert grade_suffix("B2.docx") == "B2"
    assert grade_suffix("essay_.txt") is None


def test_bundled_sample_is_complete() -> None:
    """The demo's sample folder reads cleanly: 8 graded anchors and 16 students."""
    from importlib import resources

    root = Path(str(resources.files("cjgrade.data").joinpath("sample")))
    folder = read_input_folder(root, resolve_grade=lambda raw, scale: raw)
    assert len(folder.anchors) == 8 and len(folder.students) == 16
    assert len({e.grade for e in folder.anchors}) == 8
    words = [len(e.text.split()) for e in folder.essays]
    assert min(words) >= 100 and max(words) <= 300
