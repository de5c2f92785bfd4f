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

Essays may be ``.txt``, ``.md``, ``.docx`` or ``.pdf``, read by
:func:`cjgrade.runner.documents.read_document` (the one reader of every command). Every
problem is collected and reported at once, by file name, with what to do, before anything is
written or any judge is called: an unreadable, empty or invisible-only file, a special file
(FIFO, device), a file over ``max_file_mb`` (config.toml; default 10), a symbolic link out of
the folder, a subfolder or stray CSV among the essays, a file name with control characters, a
duplicate name, an unknown grade, an ``anchors.csv`` that is not ``file_name,grade`` with
commas or that contradicts a file-name grade. Essays with the same text are a warning
(:attr:`InputFolder.warnings`).
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from cjgrade.config_schema import ConfigTable, validate_table
from cjgrade.display import has_unsafe_characters, printable
from cjgrade.engine.options import BatchOptions, merge_options
from cjgrade.engine.spec import MAX_ESSAY_ID_CHARS
from cjgrade.errors import ConfigError, InputError
from cjgrade.runner.documents import (
    DEFAULT_MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    Document,
    read_bytes,
    read_document,
    shown,
    unsupported_type,
)
from cjgrade.runner.grades import ANCHORS_CSV, ANCHORS_CSV_HEADER, CsvGrade, parse_anchor_csv
from cjgrade.scales import GradeScale, get_scale, load_scales_file

__all__ = [
    "InputEssay",
    "InputFolder",
    "InputText",
    "find_scales_file",
    "read_input_folder",
]

def _megabytes(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a positive number of megabytes (default "
                         f"{DEFAULT_MAX_FILE_BYTES // 2**20}), not {value!r}")
    return value


class FolderConfig(ConfigTable):
    """An input folder's ``config.toml``: every key it may hold (anything else is an error
    naming the key). The ``[run]`` table is :class:`BatchOptions`, declared once there."""

    label: str | None = None
    assignment_id: str | None = None
    grade_scale: str | None = None
    judge: str | None = None
    base_url: str | None = None
    grades: bool | None = None
    system_prompt: str | None = None
    scales_file: str | None = None
    max_file_mb: Annotated[float, Field(allow_inf_nan=True), AfterValidator(_megabytes)] | None = (
        None)
    """Largest essay file read, in megabytes (default 10)."""
    run: BatchOptions = BatchOptions()


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
    warnings: tuple[str, ...] = ()
    """What looks wrong but does not stop a run (essays with the same text)."""

    @property
    def essays(self) -> tuple[InputEssay, ...]:
        return self.anchors + self.students


GradeResolver = Callable[[str, str], str]
"""``(raw_grade, scale_id) -> canonical grade``; raises InputError for a grade not on the scale."""

SMALL_FILE_BYTES = 1024 * 1024
"""Limit for ``config.toml``, ``scales.toml`` and ``anchors.csv`` (they are a few lines)."""
SKIPPED_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})
"""Operating-system litter skipped like hidden files (``.DS_Store``) and Word lock files."""


@dataclass
class _Reader:
    """How the files of one input folder are read: through :func:`read_document`, never out
    of the folder, at most ``max_bytes`` each; every problem collected in ``problems``."""

    root: Path
    max_bytes: int
    problems: list[str] = field(default_factory=list)

    @property
    def within(self) -> tuple[Path, ...]:
        return (self.root.resolve(),)

    def document(self, path: Path) -> Document | None:
        hint = (f"if it really is the right file, raise max_file_mb in {shown(self.root)}/"
                f"config.toml (default {DEFAULT_MAX_FILE_BYTES // 2**20})")
        try:
            return read_document(path, max_bytes=self.max_bytes, within=self.within,
                                 limit_hint=hint)
        except InputError as exc:
            self.problems.append(str(exc))
            return None

    def small_file(self, path: Path) -> bytes | None:
        try:
            return read_bytes(path, max_bytes=SMALL_FILE_BYTES, within=self.within)
        except InputError as exc:
            self.problems.append(str(exc))
            return None

    def folder(self, path: Path, *, required: bool, fix: str) -> bool:
        """True when ``path`` is a folder inside the input folder; else a problem (when it
        exists or is required)."""
        if not os.path.lexists(path):
            if required:
                self.problems.append(f"{shown(path)}: missing; {fix}")
            return False
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # dangling, or a loop
                self.problems.append(f"{shown(path)}: a symbolic link that leads nowhere; {fix}")
                return False
            if not any(target.is_relative_to(root) for root in self.within):
                self.problems.append(
                    f"{shown(path)}: a symbolic link to {shown(target)}, outside the input "
                    "folder; cjgrade does not follow links out of it: copy the files into the "
                    "folder"
                )
                return False
        if not path.is_dir():
            self.problems.append(f"{shown(path)}: is not a folder; {fix}")
            return False
        return True


def _max_file_bytes(config: dict[str, Any]) -> int:
    """The size limit of an essay; ``max_file_mb`` was checked (a positive number) with the
    rest of ``config.toml``."""
    return int(config.get("max_file_mb", DEFAULT_MAX_FILE_BYTES / 2**20) * 2**20)


def _text_file(reader: _Reader, name: str, *, required: bool) -> InputText | None:
    path = reader.root / name
    if not os.path.lexists(path):
        if required:
            reader.problems.append(f"{shown(path)}: missing; write the assessment instructions "
                                   "there")
        return None
    doc = reader.document(path)
    if doc is None:
        return None
    return InputText(source_path=str(path), sha256=doc.sha256, text=doc.text)


def _read_config(root: Path) -> tuple[dict[str, Any], BatchOptions]:
    """The raw table of ``config.toml`` (empty without one), checked against
    :class:`FolderConfig`, and its ``[run]`` options."""
    path = root / "config.toml"
    if not os.path.lexists(path):
        return {}, BatchOptions()
    try:
        raw = read_bytes(path, max_bytes=SMALL_FILE_BYTES, within=(root.resolve(),))
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown(path)}: not valid TOML ({printable(exc)})") from exc
    # Keys and values appear in messages as repr(), which escapes control characters.
    return data, validate_table(FolderConfig, data, source=shown(path)).run


def grade_suffix(file_name: str) -> str | None:
    """The raw grade of a file name: the part of the stem after the last ``_`` (the whole stem
    when there is none, as in ``B2.docx``)."""
    return Path(file_name).stem.rsplit("_", 1)[-1].strip() or None


def _name_problem(path: Path, prefix: str) -> str | None:
    """Why a file name cannot be an essay id (it is shown in reports and stored), or None."""
    name, stem = path.name, path.stem
    if has_unsafe_characters(name):
        return (f"{shown(path)}: the file name contains control or invisible characters "
                "(shown escaped here); rename the file")
    if stem != stem.strip() or not stem.strip():
        return f"{shown(path)}: the file name starts or ends with a space; rename the file"
    if len(prefix + stem) > MAX_ESSAY_ID_CHARS:
        return (f"{shown(path)}: the file name is {len(stem)} characters long; rename it to at "
                f"most {MAX_ESSAY_ID_CHARS - len(prefix)}")
    return None


def _essay_files(reader: _Reader, folder: Path, *, is_anchor: bool) -> list[Path]:
    """The essay files directly in ``folder``; subfolders and stray CSVs are problems (their
    essays would silently not be graded)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        reader.problems.append(f"{shown(folder)}: cannot be listed ({exc.strerror or exc})")
        return []
    out = []
    for path in entries:
        if path.name.startswith((".", "~$")) or path.name.lower() in SKIPPED_NAMES:
            continue  # hidden files, Word lock files, OS litter
        if path.is_dir():
            reader.problems.append(
                f"{shown(path)}: is a folder; only the files directly in {folder.name}/ are "
                f"read, so its essays would not be graded: move them up into {folder.name}/ "
                "or move the folder out of the input folder"
            )
            continue
        if is_anchor and path.name == ANCHORS_CSV:
            continue
        if path.suffix.lower() == ".csv":
            reader.problems.append(
                f"{shown(path)}: only anchors/{ANCHORS_CSV} is read for anchor grades; rename "
                f"it to anchors/{ANCHORS_CSV} (header `{ANCHORS_CSV_HEADER}`) or remove it"
                if is_anchor else
                f"{shown(path)}: a CSV file among the essays; students/ holds essays only "
                f"(anchor grades go in anchors/{ANCHORS_CSV}): remove it"
            )
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            reader.problems.append(unsupported_type(path))
            continue
        out.append(path)
    return out


def _anchor_grade(
    path: Path, csv_grades: dict[str, CsvGrade], scale: str, resolve_grade: GradeResolver,
    problems: list[str],
) -> str | None:
    """The anchor's grade from anchors.csv or its file-name suffix; a CSV grade contradicting
    a suffix that is itself a grade of the scale is refused (one of them is a mistake)."""
    row = csv_grades.get(path.name)
    suffix = grade_suffix(path.name)
    if row is None and suffix is None:
        problems.append(
            f"{shown(path)}: no grade; add it to anchors/{ANCHORS_CSV} or end the name with "
            "_GRADE"
        )
        return None
    try:
        grade = resolve_grade(row.grade if row else suffix, scale)  # type: ignore[arg-type]
    except InputError as exc:
        where = f" (anchors/{ANCHORS_CSV} line {row.line})" if row else ""
        problems.append(f"{shown(path)}{where}: {printable(exc)}")
        return None
    if row is not None and suffix is not None:
        try:
            named = resolve_grade(suffix, scale)
        except InputError:
            return grade  # the suffix is no grade (essay_017.txt): nothing to contradict
        if named != grade:
            problems.append(
                f"{shown(path)}: anchors/{ANCHORS_CSV} line {row.line} says "
                f"{printable(row.grade)} but the file name says {printable(suffix)}; make them "
                "agree (fix the row or rename the file)"
            )
            return None
    return grade


def essay_documents(reader: _Reader, folder: Path, *, is_anchor: bool
                    ) -> Iterator[tuple[str, Path, Document]]:
    """The essays of ``folder`` that can be read: (essay id, path, document) each. A bad file
    name, two files with the same name stem and an unreadable file are added to the reader's
    problems and skipped. Anchor ids are ``anchor:<stem>``, student ids the stem."""
    prefix = "anchor:" if is_anchor else ""
    seen: dict[str, Path] = {}
    for path in _essay_files(reader, folder, is_anchor=is_anchor):
        bad_name = _name_problem(path, prefix)
        if bad_name is not None:
            reader.problems.append(bad_name)
            continue
        essay_id = prefix + path.stem
        if essay_id in seen:
            reader.problems.append(f"{shown(path)}: {shown(seen[essay_id].name)} has the same "
                                   f"name stem '{shown(path.stem)}'; rename one of them")
            continue
        seen[essay_id] = path
        doc = reader.document(path)
        if doc is not None:
            yield essay_id, path, doc


def _read_essays(
    reader: _Reader,
    folder: Path,
    *,
    is_anchor: bool,
    scale: str,
    resolve_grade: GradeResolver,
) -> list[InputEssay]:
    problems = reader.problems
    csv_grades: dict[str, CsvGrade] = {}
    csv_path = folder / ANCHORS_CSV
    if is_anchor and os.path.lexists(csv_path):
        raw = reader.small_file(csv_path)
        if raw is not None:
            csv_grades = parse_anchor_csv(shown(csv_path), raw, problems)
    essays = []
    for essay_id, path, doc in essay_documents(reader, folder, is_anchor=is_anchor):
        grade = None
        if is_anchor:
            grade = _anchor_grade(path, csv_grades, scale, resolve_grade, problems)
            if grade is None:
                continue
        essays.append(InputEssay(
            essay_id=essay_id, file_name=path.name, source_path=str(path), sha256=doc.sha256,
            text=doc.text, is_anchor=is_anchor, grade=grade,
        ))
    for name, row in csv_grades.items():
        if not (folder / name).exists():
            hint = " (give the file name only)" if "/" in name or "\\" in name else ""
            problems.append(f"{shown(csv_path)} line {row.line}: lists '{printable(name)}', "
                            f"which is not in anchors/{hint}")
    return essays


def _duplicate_warnings(essays: list[InputEssay]) -> list[str]:
    """One warning per group of essays with the same text (whitespace aside)."""
    groups: dict[str, list[InputEssay]] = {}
    for essay in essays:
        groups.setdefault(" ".join(essay.text.split()), []).append(essay)
    warnings = []
    for group in groups.values():
        if len(group) > 1:
            names = ", ".join(f"{'anchors' if e.is_anchor else 'students'}/{shown(e.file_name)}"
                              for e in group)
            warnings.append(
                f"{names} have the same text; each copy is compared and graded as a separate "
                "essay: remove the copies unless that is intended"
            )
    return warnings


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
        raise InputError(f"{shown(root)}: not a folder; pass the folder holding instructions.md")
    config, options = _read_config(root)
    options = merge_options(options, option_overrides or {}, source="command line")
    scale = config.get("grade_scale", DEFAULT_GRADE_SCALE)
    scales_path = find_scales_file(root, config, scales_file, default_scales_file)
    if scales_path is not None and os.path.lexists(scales_path):
        try:  # a FIFO or a device would hang or exhaust the scale loader
            read_bytes(scales_path, max_bytes=SMALL_FILE_BYTES)
        except InputError as exc:
            raise ConfigError(f"grade-scale file {exc}") from None
    user_scales = load_scales_file(scales_path) if scales_path is not None else ()
    if user_scales:
        resolve_grade = partial(resolve_grade, user_scales=user_scales)  # type: ignore[call-arg]
    get_scale(scale, user_scales)  # an unknown scale: ConfigError listing the known ones
    reader = _Reader(root, _max_file_bytes(config))
    instructions = _text_file(reader, "instructions.md", required=True)
    prompt = _text_file(reader, "prompt.md", required=False)
    rubric = _text_file(reader, "rubric.md", required=False)
    if os.path.lexists(root / ANCHORS_CSV):
        reader.problems.append(f"{shown(root / ANCHORS_CSV)}: anchor grades are read from "
                               f"anchors/{ANCHORS_CSV}; move it there")
    anchors: list[InputEssay] = []
    if reader.folder(root / "anchors", required=False,
                     fix="anchors/ must be a folder of graded anchor essays"):
        anchors = _read_essays(reader, root / "anchors", is_anchor=True, scale=scale,
                               resolve_grade=resolve_grade)
    students: list[InputEssay] = []
    if reader.folder(root / "students", required=True, fix="put the student essays there"):
        students = _read_essays(reader, root / "students", is_anchor=False, scale=scale,
                                resolve_grade=resolve_grade)
    if reader.problems:
        listing = "\n  ".join(reader.problems)
        raise InputError(
            f"{len(reader.problems)} problem(s) in {shown(root)}; fix them before running:\n"
            f"  {listing}"
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
        warnings=tuple(_duplicate_warnings([*anchors, *students])),
    )
