"""A corpus of bad input folders, files and CSVs, through the real CLI (`cjgrade plan` and
`cjgrade run` with the heuristic judge, in process, with a temporary CJGRADE_HOME).

Every case must give: the exit code of its error class; one message that names the file or
thing and says what to do; the same message from `plan` and from `run` (one validation); no
traceback and no raw control character in the output; and nothing written (no database, so
no rows and nothing paid; no output folder).
"""

from __future__ import annotations

import json
import os
import re
import signal
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docx
import pytest

from cjgrade.cli.admin import _read_text
from cjgrade.cli.main import build_app, run_app
from cjgrade.errors import InputError
from tests.runner.test_inputs import make_pdf

ESSAY = ("Phones in school are a question of balance. Students use them to learn, but they "
         "also lose concentration when messages arrive. Rules help more than bans. ")
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
"""Control characters other than the newline: none may reach the terminal."""


@pytest.fixture(autouse=True)
def _deadline() -> Iterator[None]:
    """A FIFO that is opened for reading blocks forever: fail the test instead of hanging."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("the command blocked (a FIFO or device was read)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty CJGRADE_HOME (it must still not exist after a refusal: no database)."""
    home = tmp_path / "home"
    monkeypatch.setenv("CJGRADE_HOME", str(home))
    for var in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "CJGRADE_SCALES_FILE",
                "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return home


def make_input(root: Path, n_students: int = 4) -> Path:
    """A valid folder: instructions, four students, two graded anchors."""
    (root / "students").mkdir(parents=True)
    (root / "anchors").mkdir()
    (root / "instructions.md").write_text("Choose the better argued essay.", encoding="utf-8")
    for i in range(n_students):
        (root / "students" / f"s{i}.txt").write_text(ESSAY * (i + 1), encoding="utf-8")
    (root / "anchors" / "low_E.txt").write_text("phones bad. i think no.", encoding="utf-8")
    (root / "anchors" / "high_A.txt").write_text(ESSAY * 8, encoding="utf-8")
    return root


def write_docx(path: Path, text: str) -> None:
    document = docx.Document()
    document.add_paragraph(text)
    document.save(str(path))


def zip_bomb(path: Path) -> None:
    """A .docx-shaped zip whose one part expands to 101 MiB of zeros."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("word/document.xml", "w", force_zip64=True) as part:
        block = bytes(2**20)
        for _ in range(101):
            part.write(block)


def name_bytes(folder: Path, raw: bytes, content: bytes) -> None:
    """A file whose name is the raw bytes ``raw`` (not necessarily UTF-8)."""
    with open(os.path.join(os.fsencode(folder), raw), "wb") as handle:
        handle.write(content)


@dataclass(frozen=True)
class Case:
    """A bad input: how to break a valid folder, the exit code, and what the message must
    contain (the thing named, and the fix)."""

    id: str
    breaks: Callable[[Path], None]
    code: int
    names: str
    fix: str
    args: tuple[str, ...] = ()


def _students(name: str, data: bytes | str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = root / "students" / name
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    return make


def _anchors_csv(text: str | bytes) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = root / "anchors" / "anchors.csv"
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return make


def _fifo(relative: str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = root / relative
        path.unlink(missing_ok=True)
        os.mkfifo(path)
    return make


def _link(relative: str, target: Callable[[Path], Path]) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = root / relative
        if path.is_dir():
            path.rename(root.parent / "moved_away")
        else:
            path.unlink(missing_ok=True)
        path.symlink_to(target(root))
    return make


def _outside_file(root: Path) -> Path:
    secret = root.parent / "secret.txt"
    secret.write_text("password = hunter2, which must never reach a judge", encoding="utf-8")
    return secret


def _config(text: str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        (root / "config.toml").write_text(text, encoding="utf-8")
    return make


def _subfolder(root: Path) -> None:
    (root / "students" / "class_b").mkdir()
    (root / "students" / "class_b" / "s9.txt").write_text(ESSAY, encoding="utf-8")


def _same_stem(root: Path) -> None:
    (root / "students" / "s0.md").write_text(ESSAY + " Another text.", encoding="utf-8")


def _grade_contradiction(root: Path) -> None:
    (root / "anchors" / "anchors.csv").write_text(
        "file_name,grade\nlow_E.txt,B\nhigh_A.txt,A\n", encoding="utf-8")


CASES = [
    # files of the essay folders
    Case("nul_byte", _students("nul.txt", b"An essay\x00with a NUL byte in it."), 3,
         "nul.txt", "save it as UTF-8"),
    Case("latin1", _students("latin.txt", "Smörgåsbord och äppelpaj.".encode("latin-1")), 3,
         "latin.txt", "save it as UTF-8"),
    Case("empty", _students("empty.txt", ""), 3, "empty.txt", "add the text or remove the file"),
    Case("invisible_only", _students("ghost.txt", "\u200b\u00a0\u200b \ufeff\u2060\u3164"), 3,
         "ghost.txt", "no visible text"),
    Case("newline_in_name", _students("new\nline.txt", ESSAY), 3, "new\\nline.txt",
         "rename the file"),
    Case("escape_in_name", _students("\x1b]0;pwned\x07\x1b[2Jx.txt", ESSAY), 3,
         "\\x1b]0;pwned\\x07\\x1b[2Jx.txt", "rename the file"),
    Case("bidi_override_in_name", _students("essay\u202etxt.exe.txt", ESSAY), 3,
         "essay\\u202etxt.exe.txt", "rename the file"),
    Case("non_utf8_name", lambda r: name_bytes(r / "students", b"bad\xff.txt", ESSAY.encode()),
         3, "bad\\udcff.txt", "rename the file"),
    Case("space_around_name", _students(" padded.txt", ESSAY), 3, " padded.txt",
         "starts or ends with a space"),
    Case("name_too_long", _students("x" * 205 + ".txt", ESSAY), 3, "x" * 205,
         "rename it to at most 200"),
    Case("same_stem", _same_stem, 3, "s0.md", "rename one of them"),
    Case("fifo_essay", _fifo("students/pipe.txt"), 3, "pipe.txt: is a named pipe (FIFO)",
         "replace it with the file itself or remove it"),
    Case("link_to_dev_zero", _link("students/zero.txt", lambda r: Path("/dev/zero")), 3,
         "zero.txt: a symbolic link to /dev/zero, outside the input folder",
         "copy the file into the folder"),
    Case("link_outside", _link("students/s9.txt", _outside_file), 3,
         "s9.txt: a symbolic link to", "copy the file into the folder"),
    Case("dangling_link", _link("students/gone.txt", lambda r: r / "nowhere.txt"), 3,
         "gone.txt: a symbolic link that leads nowhere", "replace it with the file itself"),
    Case("oversize_default", _students("big.txt", "word " * (11 * 2**20 // 5)), 3,
         "big.txt: is 11.0 MB, over the 10.0 MB limit", "raise max_file_mb"),
    Case("oversize_configured", _config("max_file_mb = 0.0005\n"), 3,
         "high_A.txt: is 1.2 kB, over the 524 bytes limit", "raise max_file_mb"),
    Case("bad_max_file_mb", _config("max_file_mb = -1\n"), 2, "max_file_mb",
         "a positive number of megabytes"),
    Case("infinite_max_file_mb", _config("max_file_mb = inf\n"), 2, "max_file_mb",
         "a positive number of megabytes"),
    Case("subfolder", _subfolder, 3, "students/class_b: is a folder",
         "move them up into students/"),
    Case("corrupt_docx", _students("broken.docx", b"PK\x03\x04 not really"), 3, "broken.docx",
         "re-save it from Word"),
    Case("docx_zip_bomb", lambda r: zip_bomb(r / "students" / "bomb.docx"), 3, "bomb.docx",
         "save it as .txt"),
    Case("corrupt_pdf", _students("broken.pdf", b"%PDF-1.4\n garbage"), 3, "broken.pdf",
         "re-export it"),
    Case("word_97_doc", _students("old.doc", b"\xd0\xcf\x11\xe0 legacy"), 3, "old.doc",
         "save it as .docx"),
    Case("no_suffix", _students("README", "notes"), 3, "README", "use .txt, .md, .docx, .pdf"),
    Case("csv_among_students", _students("grades.csv", "file_name,grade\n"), 3,
         "students/grades.csv", "remove it"),
    # folders and the fixed files
    Case("students_is_a_file", lambda r: (os.rename(r / "students", r / "x"),
                                          (r / "students").write_text("x")), 3,
         "students: is not a folder", "put the student essays there"),
    Case("students_link_loop", _link("students", lambda r: r / "students"), 3,
         "students: a symbolic link that leads nowhere", "put the student essays there"),
    Case("students_link_outside", _link("students", lambda r: r.parent / "moved_away"), 3,
         "students: a symbolic link to", "copy the files into the folder"),
    Case("no_instructions", lambda r: (r / "instructions.md").unlink(), 3, "instructions.md",
         "write the assessment instructions there"),
    Case("fifo_instructions", _fifo("instructions.md"), 3, "instructions.md: is a named pipe",
         "replace it"),
    Case("instructions_link_outside", _link("instructions.md", _outside_file), 3,
         "instructions.md: a symbolic link to", "copy the file into the folder"),
    Case("fifo_config", _fifo("config.toml"), 2, "config.toml: is a named pipe", "replace it"),
    Case("fifo_scales_file", lambda r: (_config('scales_file = "s.toml"\n')(r),
                                        os.mkfifo(r / "s.toml")), 2,
         "s.toml: is a named pipe", "replace it"),
    # anchors.csv and grades
    Case("csv_semicolons", _anchors_csv("file_name;grade\nlow_E.txt;E\n"), 3,
         "anchors.csv: columns are separated by ';'", "header `file_name,grade`"),
    Case("csv_tabs", _anchors_csv("file_name\tgrade\nlow_E.txt\tE\n"), 3,
         "anchors.csv: columns are separated by '\\t'", "comma-separated"),
    Case("csv_wrong_header", _anchors_csv("file,grade\nlow_E.txt,E\n"), 3,
         "the header is `file,grade`", "header `file_name,grade`"),
    Case("csv_no_header", _anchors_csv("low_E.txt,E\nhigh_A.txt,A\n"), 3,
         "the header is `low_E.txt,E`", "header `file_name,grade`"),
    Case("csv_latin1", _anchors_csv("file_name,grade\nlåg_E.txt,E\n".encode("latin-1")), 3,
         "anchors.csv: not UTF-8", "CSV UTF-8"),
    Case("csv_empty", _anchors_csv(""), 3, "anchors.csv: is empty", "file_name,grade"),
    Case("csv_extra_values", _anchors_csv("file_name,grade\nlow_E.txt,C,+\n"), 3,
         "anchors.csv line 2: 3 values but the header has 2", "double quotes"),
    Case("csv_listed_twice", _anchors_csv("file_name,grade\nlow_E.txt,E\nlow_E.txt,E\n"), 3,
         "line 3: 'low_E.txt' is listed again", "keep one row per file"),
    Case("csv_missing_file", _anchors_csv("file_name,grade\nanchors/low_E.txt,E\n"), 3,
         "lists 'anchors/low_E.txt', which is not in anchors/", "give the file name only"),
    Case("csv_contradicts_name", _grade_contradiction, 3,
         "low_E.txt: anchors/anchors.csv line 2 says B but the file name says E",
         "make them agree"),
    Case("csv_fifo", _fifo("anchors/anchors.csv"), 3, "anchors.csv: is a named pipe",
         "replace it"),
    Case("csv_in_wrong_place", lambda r: (r / "anchors.csv").write_text("file_name,grade\n"), 3,
         "anchors.csv: anchor grades are read from anchors/anchors.csv", "move it there"),
    Case("stray_csv_in_anchors", lambda r: (r / "anchors" / "grades.csv").write_text("x"), 3,
         "anchors/grades.csv: only anchors/anchors.csv is read", "rename it"),
    Case("grade_not_on_scale", _students("../anchors/odd_Q.txt", ESSAY), 3, "odd_Q.txt",
         "fix the file name or anchors.csv"),
    # options
    Case("budget_of_400_digits", lambda r: None, 2, "budget is too large", "give a smaller value",
         ("--budget", "1" + "0" * 400)),
    Case("alpha_nan", _config("[run]\nalpha = nan\n"), 2, "alpha must be a finite number",
         "finite"),
    Case("misspelt_run_option", _config("[run]\nbudgte = 3\n"), 2,
         "config.toml: unknown key 'budgte' in [run]", "allowed: budget, target_reliability, "),
    Case("unknown_config_section", _config("[engine]\nbudget = 3\n"), 2,
         "config.toml: unknown section [engine]", "allowed sections: [run]"),
    # the judge's limits
    Case("longer_than_context_window", _students("novel.txt", "word " * 130_000), 3,
         "students/novel.txt (~162,500 tokens)", "choose a model with a larger window",
         ("--judge", "openai/gpt-4o-2024-11-20")),
]


def _cli(*argv: str) -> int:
    return run_app(build_app(), list(argv))


def _run_both(folder: Path, out: Path, args: tuple[str, ...],
              capsys: pytest.CaptureFixture[str]) -> list[tuple[int, str]]:
    results = []
    judge = () if "--judge" in args else ("--judge", "heuristic/surface")
    for command in (("plan", str(folder)), ("run", str(folder), "--out", str(out))):
        capsys.readouterr()
        code = _cli(*command, *judge, *args)
        captured = capsys.readouterr()
        results.append((code, captured.out + captured.err))
    return results


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_before_anything_is_written(
    case: Case, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`plan` and `run` refuse the folder with the same message, naming the file and the
    fix, with no traceback or raw control character, and write (and pay) nothing."""
    folder = make_input(tmp_path / "in")
    case.breaks(folder)
    out = tmp_path / "out"
    (plan_code, plan_text), (run_code, run_text) = _run_both(folder, out, case.args, capsys)
    for code, text in ((plan_code, plan_text), (run_code, run_text)):
        assert code == case.code, text
        assert case.names in text and case.fix in text, text
        assert "Traceback" not in text and not CONTROL.search(text), text
        assert text.startswith("error: "), text
    assert plan_text == run_text  # one validation, one message
    assert not home.exists(), "a database was created"
    assert not out.exists(), "an output folder was written"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[engine]\nbudget = 3\n", "unknown section [engine]; allowed sections: [database], [api]"),
        ("[runner]\nworkers = 2\n", "unknown section [runner]; allowed sections: "),
        ("[api]\nmax_body_byte = 10\n",
         "unknown key 'max_body_byte' in [api]; allowed: max_body_bytes"),
    ],
)
def test_bad_home_config_is_refused_in_one_line(
    content: str, message: str, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """An unknown section or key in $CJGRADE_HOME/config.toml stops `plan` and `run` with one
    line naming the file, the key and what is allowed (exit 2, no traceback)."""
    home.mkdir()
    (home / "config.toml").write_text(content, encoding="utf-8")
    folder = make_input(tmp_path / "in")
    for code, text in _run_both(folder, tmp_path / "out", (), capsys):
        assert code == 2, text
        assert text.startswith(f"error: config file {home / 'config.toml'}: {message}"), text
        assert "Traceback" not in text and text.count("\n") == 1, text
    assert not (tmp_path / "out").exists()


def test_corpus_is_large_enough() -> None:
    """The issue asks for at least 25 bad-input cases with distinct ids."""
    assert len({c.id for c in CASES}) == len(CASES) >= 25


# -- warnings: the run goes ahead, and says what looks wrong ------------------------------------


def _words(text: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(text.split())


def test_duplicate_texts_are_named_by_plan_and_run(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Two essays with the same text (whitespace aside) are a warning naming both files, from
    `plan` and, before it starts, from `run`."""
    folder = make_input(tmp_path / "in")
    (folder / "students" / "copy.txt").write_text("  " + ESSAY * 2 + "\n", encoding="utf-8")
    assert _cli("plan", str(folder), "--judge", "heuristic/surface") == 0
    plan = _words(capsys.readouterr().out)
    assert "students/copy.txt, students/s1.txt have the same text" in plan
    assert _cli("run", str(folder), "--judge", "heuristic/surface", "--budget", "12",
                "--out", str(tmp_path / "out")) == 0
    assert "students/copy.txt, students/s1.txt have the same text" in _words(
        capsys.readouterr().err)


def test_budget_beyond_every_pair_and_its_cost_are_warned_about(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A budget above twice the distinct pairs, and an estimated cost above $100, are
    warnings with the figures; the estimate is shown; `plan` still writes nothing."""
    folder = make_input(tmp_path / "in")
    judge = ("--judge", "anthropic/claude-haiku-4-5-20251001", "--budget", "300000000")
    assert _cli("plan", str(folder), *judge, "--format", "json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["distinct_pairs"] == 15 and plan["cost_total_usd"] > 100
    text = " ".join(plan["warnings"])
    assert "budget 300,000,000 is more than 2 x the 15 distinct pairs of 6 essays" in text
    assert "lower --budget to at most 30" in text
    assert re.search(r"may cost about \$[\d,]+\.\d\d with anthropic/claude-haiku", text)
    assert _cli("plan", str(folder), *judge) == 0
    table = capsys.readouterr().out
    assert "estimated cost" in table and "300,000,000 comparisons" in _words(table)
    assert not home.exists()


def test_run_shows_the_estimate_and_warnings_before_it_starts(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`run` prints the plan's cost estimate and warnings (stderr) before the batch exists."""
    folder = make_input(tmp_path / "in")
    assert _cli("run", str(folder), "--judge", "heuristic/surface", "--budget", "100",
                "--out", str(tmp_path / "out")) == 0
    err = _words(capsys.readouterr().err)
    assert err.index("estimated cost: $0.0000 for up to 100 comparisons") < err.index("batch ")
    assert "budget 100 is more than 2 x the 15 distinct pairs" in err


def test_an_essay_filling_most_of_the_window_and_an_outlier_are_warned_about(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """An essay that fills most of the context window, and one far longer than the others,
    are warnings with figures."""
    folder = make_input(tmp_path / "in")
    (folder / "students" / "long.txt").write_text("word " * 90_000, encoding="utf-8")
    assert _cli("plan", str(folder), "--judge", "openai/gpt-4o-2024-11-20") == 0
    text = _words(capsys.readouterr().out)
    assert "of openai/gpt-4o-2024-11-20's 128,000-token context window" in text
    assert re.search(r"students/long\.txt is \d+ times as long as the median essay", text)


# -- what is printed and written is inert ------------------------------------------------------


def test_names_and_labels_are_escaped_in_the_summary_and_the_reports(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A label with terminal escape sequences and markup, and a file named like an HTML tag,
    reach the console, report.md and report.html as visible text, never as live sequences or
    HTML."""
    folder = make_input(tmp_path / "in")
    (folder / "config.toml").write_text(
        'label = "\\u001b]0;pwned\\u0007\\u001b[2J<script>alert(1)</script> [bold]x"\n',
        encoding="utf-8")
    (folder / "students" / "<img src=x onerror=alert(1)>.txt").write_text(
        ESSAY * 3 + " Different.", encoding="utf-8")
    out = tmp_path / "out"
    assert _cli("run", str(folder), "--judge", "heuristic/surface", "--budget", "14",
                "--out", str(out), "--no-grades") == 0
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert not CONTROL.search(printed)
    assert "\\x1b]0;pwned\\x07\\x1b[2J<script>" in _words(printed).replace(" ", "")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "\x1b" not in markdown and "<script>" not in markdown and "<img" not in markdown
    assert "&lt;script&gt;" in markdown and "&lt;img src=x onerror=alert(1)&gt;" in markdown
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "\x1b" not in html and "<script>" not in html and "<img" not in html
    assert _cli("plan", str(folder), "--judge", "heuristic/surface") == 0
    assert not CONTROL.search(capsys.readouterr().out)


# -- cjgrade admin reads files with the same reader --------------------------------------------


def test_admin_reads_pdf_and_docx_like_run(tmp_path: Path) -> None:
    """`admin ... --file` extracts the text of a PDF and a .docx (never the raw PDF source, never
    a "save it as UTF-8" for a real .docx), as `cjgrade run` does."""
    pdf = tmp_path / "B1.pdf"
    make_pdf(pdf, ["An anchor essay of grade B, from a PDF."])
    assert _read_text(pdf, None, "anchor essay", "-") == "An anchor essay of grade B, from a PDF."
    word = tmp_path / "B2.docx"
    write_docx(word, "An anchor essay of grade B, from Word.")
    assert _read_text(word, None, "anchor essay", "-") == "An anchor essay of grade B, from Word."


@pytest.mark.parametrize(
    ("make", "names", "fix"),
    [
        (lambda p: os.mkfifo(p), "is a named pipe", "replace it"),
        (lambda p: p.symlink_to("/dev/zero"), "is a character device", "replace it"),
        (lambda p: p.write_bytes(b"%PDF-1.4 broken"), "not a readable PDF", "re-export it"),
        (lambda p: p.write_text("\u200b\u00a0"), "no visible text", "add the text"),
    ],
    ids=["fifo", "dev_zero", "broken_pdf", "invisible"],
)
def test_admin_refuses_bad_files_before_any_request(
    make: Callable[[Path], None], names: str, fix: str, tmp_path: Path, home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`admin anchors register --file` refuses special, broken and blank files locally (exit
    3, not the connection error of the closed API port), naming the file and the fix."""
    path = tmp_path / ("anchor.pdf" if "PDF" in names else "anchor.txt")
    make(path)
    code = _cli("admin", "anchors", "register", "--assignment-id", "a", "--grade", "B",
                "--file", str(path), "--api-url", "http://127.0.0.1:9", "--token", "x")
    err = capsys.readouterr().err
    assert code == 3, err
    assert str(path) in err and names in err and fix in err and "Traceback" not in err


def test_admin_inline_text_gets_the_same_checks(tmp_path: Path) -> None:
    """Inline text with nothing visible or a NUL is refused like a file with it."""
    with pytest.raises(InputError, match="no visible text"):
        _read_text(None, "\u200b \u00a0", "anchor essay", "-")
    with pytest.raises(InputError, match="NUL"):
        _read_text(None, "text\x00more", "anchor essay", "-")
