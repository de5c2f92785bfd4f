"""The input folder of ``cjgrade run`` / ``plan`` / ``demo``.

Layout::

    INPUT_DIR/
      instructions.md      assessment instructions (required)
      prompt.md            the assignment the students answered (optional)
      rubric.md            judge rubric (optional)
      config.toml          grade scale, assignment id, label, judge, [run] options (optional)
      scales.toml          user grade scales ([[scale]] tables; optional)
      anchors/             anchor essays; grade from anchors/anchors.csv (file_name,grade)
                           or from the file-name suffix, as in essay_017_C+.txt
      students/            student essays

Essays may be ``.txt``, ``.md``, ``.docx`` or ``.pdf``. Every problem (unreadable file, empty
file, unknown grade, duplicate name) is collected and reported at once, by file name, before
anything is written or any judge is called.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from cjgrade.engine.documents import SUPPORTED_SUFFIXES, Document, read_document
from cjgrade.engine.options import BatchOptions, merge_options
from cjgrade.errors import ConfigError, InputError
from cjgrade.scales import GradeScale, get_scale, load_scales_file

__all__ = [
    "InputEssay",
    "InputFolder",
    "InputText",
    "find_scales_file",
    "read_input_folder",
]

CONFIG_KEYS = {
    "label": str,
    "assignment_id": str,
    "grade_scale": str,
    "judge": str,
    "base_url": str,
    "grades": bool,
    "system_prompt": str,
    "scales_file": str,
    "run": dict,
}
DEFAULT_GRADE_SCALE = "swedish_8_anchor"


@dataclass(frozen=True)
class InputText:
    """An instructions/prompt/rubric file."""

    source_path: str
    sha256: str
    text: str


@dataclass(frozen=True)
class InputEssay:
    """An essay file of the folder. ``essay_id`` is derived from the file name (never shown to
    a judge); ``grade`` is the expert grade of an anchor."""

    essay_id: str
    file_name: str
    source_path: str
    sha256: str
    text: str
    is_anchor: bool
    grade: str | None = None


@dataclass(frozen=True)
class InputFolder:
    """Everything read from an input folder, validated."""

    root: Path
    instructions: InputText
    prompt: InputText | None
    rubric: InputText | None
    anchors: tuple[InputEssay, ...]
    students: tuple[InputEssay, ...]
    grade_scale: str
    label: str
    assignment_id: str | None = None
    judge: str | None = None
    base_url: str | None = None
    system_prompt: str | None = None
    grades_requested: bool = True
    options: BatchOptions = field(default_factory=BatchOptions)
    user_scales: tuple[GradeScale, ...] = ()
    """User grade scales read from the folder's scales file (see :func:`find_scales_file`)."""
    scales_file: str | None = None

    @property
    def essays(self) -> tuple[InputEssay, ...]:
        return self.anchors + self.students


GradeResolver = Callable[[str, str], str]
"""``(raw_grade, scale_id) -> canonical grade``; raises InputError for a grade not on the scale."""


def _essay_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "~$")) or path.is_dir():
            continue  # hidden files and Word lock files
        if path.suffix.lower() == ".csv" and folder.name == "anchors":
            continue
        out.append(path)
    return out


def _text_file(root: Path, name: str, problems: list[str], *, required: bool) -> InputText | None:
    path = root / name
    if not path.exists():
        if required:
            problems.append(f"{path}: missing; write the assessment instructions there")
        return None
    try:
        doc = read_document(path)
    except InputError as exc:
        problems.append(str(exc))
        return None
    return InputText(source_path=str(path), sha256=doc.sha256, text=doc.text)


def _read_config(root: Path) -> dict[str, Any]:
    path = root / "config.toml"
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    for key, value in data.items():
        if key not in CONFIG_KEYS:
            raise ConfigError(
                f"{path}: unknown key {key!r}; known keys: {', '.join(sorted(CONFIG_KEYS))}"
            )
        if not isinstance(value, CONFIG_KEYS[key]):
            kind = {str: "a quoted string", bool: "true or false", dict: "a [table]"}
            raise ConfigError(
                f"{path}: {key} must be {kind.get(CONFIG_KEYS[key], CONFIG_KEYS[key].__name__)}"
            )
    return data


def _anchor_csv(folder: Path, problems: list[str]) -> dict[str, str]:
    path = folder / "anchors.csv"
    if not path.exists():
        return {}
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"{path}: cannot be read ({exc})")
        return {}
    grades: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        name = (row.get("file_name") or "").strip()
        grade = (row.get("grade") or "").strip()
        if not name or not grade:
            problems.append(f"{path} line {line}: needs both file_name and grade")
            continue
        grades[name] = grade
    return grades


def grade_suffix(file_name: str) -> str | None:
    """The raw grade of a file name: the part of the stem after the last ``_`` (the whole stem
    when there is none, as in ``B2.docx``)."""
    return Path(file_name).stem.rsplit("_", 1)[-1].strip() or None


def _essay_id(prefix: str, path: Path, seen: set[str], problems: list[str]) -> str:
    essay_id = f"{prefix}{path.stem}"
    if essay_id in seen:
        problems.append(f"{path}: another file in the folder has the same name stem {path.stem!r}")
    seen.add(essay_id)
    return essay_id


def _read_essays(
    folder: Path,
    *,
    is_anchor: bool,
    scale: str,
    resolve_grade: GradeResolver,
    problems: list[str],
) -> list[InputEssay]:
    csv_grades = _anchor_csv(folder, problems) if is_anchor else {}
    seen: set[str] = set()
    essays = []
    for path in _essay_files(folder):
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            problems.append(
                f"{path}: unsupported file type; use {', '.join(SUPPORTED_SUFFIXES)} or remove it"
            )
            continue
        try:
            doc: Document = read_document(path)
        except InputError as exc:
            problems.append(str(exc))
            continue
        essay_id = _essay_id("anchor:" if is_anchor else "", path, seen, problems)
        grade = None
        if is_anchor:
            raw = csv_grades.get(path.name) or grade_suffix(path.name)
            if raw is None:
                problems.append(
                    f"{path}: no grade; add it to anchors/anchors.csv or end the name with _GRADE"
                )
                continue
            try:
                grade = resolve_grade(raw, scale)
            except InputError as exc:
                problems.append(f"{path}: {exc}")
                continue
        essays.append(
            InputEssay(
                essay_id=essay_id,
                file_name=path.name,
                source_path=str(path),
                sha256=doc.sha256,
                text=doc.text,
                is_anchor=is_anchor,
                grade=grade,
            )
        )
    for name in csv_grades:
        if not (folder / name).exists():
            problems.append(f"{folder / 'anchors.csv'}: lists {name!r}, which is not in anchors/")
    return essays


SCALES_FILE_NAME = "scales.toml"


def find_scales_file(
    root: Path, config: dict[str, Any], flag: Path | None, fallback: Path | None
) -> Path | None:
    """The user grade-scale file of a run: ``--scales-file``, else ``scales_file`` in
    ``config.toml`` (relative to the folder), else ``scales.toml`` in the folder, else
    ``fallback`` (``CJGRADE_SCALES_FILE``); None when there is none."""
    if flag is not None:
        return flag
    if "scales_file" in config:
        return root / Path(config["scales_file"]).expanduser()
    if (root / SCALES_FILE_NAME).is_file():
        return root / SCALES_FILE_NAME
    return fallback


def read_input_folder(
    root: Path,
    *,
    resolve_grade: GradeResolver,
    option_overrides: dict[str, Any] | None = None,
    scales_file: Path | None = None,
    default_scales_file: Path | None = None,
) -> InputFolder:
    """Read and validate an input folder.

    Parameters
    ----------
    root : the folder.
    resolve_grade : maps a raw grade (from the CSV or a file-name suffix) to the scale's
        canonical grade, raising InputError when it is not on the scale.
    option_overrides : command-line options, applied over ``config.toml``'s ``[run]`` table.
    scales_file, default_scales_file : ``--scales-file`` and ``CJGRADE_SCALES_FILE``; see
        :func:`find_scales_file`. The resolver is called with ``user_scales=`` when the run
        has user scales.

    Raises
    ------
    InputError
        Listing every unreadable, empty or ungraded file by name.
    ConfigError
        For an invalid ``config.toml``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; pass the folder holding instructions.md")
    config = _read_config(root)
    options = merge_options(BatchOptions(), config.get("run", {}), source=f"{root}/config.toml")
    options = merge_options(options, option_overrides or {}, source="command line")
    scale = config.get("grade_scale", DEFAULT_GRADE_SCALE)
    scales_path = find_scales_file(root, config, scales_file, default_scales_file)
    user_scales = load_scales_file(scales_path) if scales_path is not None else ()
    if user_scales:
        resolve_grade = partial(resolve_grade, user_scales=user_scales)  # type: ignore[call-arg]
    get_scale(scale, user_scales)  # an unknown scale: ConfigError listing the known ones
    problems: list[str] = []
    instructions = _text_file(root, "instructions.md", problems, required=True)
    prompt = _text_file(root, "prompt.md", problems, required=False)
    rubric = _text_file(root, "rubric.md", problems, required=False)
    if not (root / "students").is_dir():
        problems.append(f"{root / 'students'}: missing; put the student essays there")
    anchors = _read_essays(
        root / "anchors", is_anchor=True, scale=scale, resolve_grade=resolve_grade,
        problems=problems,
    )
    students = _read_essays(
        root / "students", is_anchor=False, scale=scale, resolve_grade=resolve_grade,
        problems=problems,
    )
    if problems:
        listing = "\n  ".join(problems)
        raise InputError(
            f"{len(problems)} problem(s) in {root}; fix them before running:\n  {listing}"
        )
    assert instructions is not None
    return InputFolder(
        root=root,
        instructions=instructions,
        prompt=prompt,
        rubric=rubric,
        anchors=tuple(anchors),
        students=tuple(students),
        grade_scale=scale,
        label=config.get("label", root.name),
        assignment_id=config.get("assignment_id"),
        judge=config.get("judge"),
        base_url=config.get("base_url"),
        system_prompt=config.get("system_prompt"),
        grades_requested=config.get("grades", True),
        options=options,
        user_scales=user_scales,
        scales_file=str(scales_path) if scales_path is not None else None,
    )
