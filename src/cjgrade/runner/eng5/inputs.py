"""The runner's input folder: the ENG5 NP layout of the original, or the project's own.

ENG5 layout (the original runner's asset folder)::

    ROLE_MODELS_ENG5_NP_2016/
      eng5_np_vt_2017_essay_instruction.md        instructions; also the student prompt
                                                  when there is no prompt.md (sent once)
      prompt.md, rubric.md                        optional
      ANCHOR_ESSAYS_BAYESIAN_INFERENCE_DATA.csv   optional anchor grades: ANCHOR-ID/anchor_id,
                                                  FILE-NAME/file_name, grade/pred_mode_grade
      anchor_essays/                              anchors; grade from the CSV or the name
                                                  suffix (anchor_essay_eng_5_17_vt_001_F+.docx)
      student_essays/                             student essays

Project layout: ``instructions.md``, ``anchors/``, ``students/`` (see
:mod:`cjgrade.runner.inputs`, which reads it). A folder with ``anchor_essays/``,
``student_essays/`` or the ENG5 instruction file is read as the ENG5 layout. ``--anchor-dir``
replaces the anchor folder of either layout; an anchor folder may hold the project's
``anchors.csv`` (``file_name,grade``), so a cjgrade ``anchors/`` folder serves as one. The
grade sources and their agreement: :mod:`cjgrade.runner.eng5.anchor_grades`.

Both are read through the project's one document reader and its folder checks: ``.txt``,
``.md``, ``.docx``, ``.pdf``; names with spaces, parentheses and non-ASCII letters are kept as
the essay id (the file stem; ``anchor:`` + stem for anchors). Every problem (an empty or
non-UTF-8 file, a broken ``.docx``, a grade not on the scale, a CSV grade that contradicts the
file name, two files with one stem) is collected and raised at once as one
:class:`InputError`, before anything is written or spent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from cjgrade.display import printable
from cjgrade.errors import InputError
from cjgrade.runner.documents import DEFAULT_MAX_FILE_BYTES, shown
from cjgrade.runner.eng5.anchor_grades import (
    GradeRow,
    anchor_grade,
    read_eng5_csv,
    read_folder_csv,
)
from cjgrade.runner.grades import ANCHORS_CSV, CsvGrade, resolve_grade
from cjgrade.runner.inputs import (
    InputEssay,
    InputFolder,
    InputText,
    _duplicate_warnings,
    _Reader,
    essay_documents,
    read_input_folder,
)
from cjgrade.scales import GradeScale, get_scale

__all__ = [
    "ENG5_ANCHOR_DIR",
    "ENG5_CSV",
    "ENG5_INSTRUCTIONS",
    "ENG5_STUDENT_DIR",
    "ENG5_XLSX",
    "Eng5Inputs",
    "InventoryLine",
    "is_eng5_layout",
    "read_inputs",
]

ENG5_INSTRUCTIONS = "eng5_np_vt_2017_essay_instruction.md"
ENG5_CSV = "ANCHOR_ESSAYS_BAYESIAN_INFERENCE_DATA.csv"
ENG5_XLSX = "ANCHOR_ESSAYS_BAYESIAN_INFERENCE_DATA.xlsx"
ENG5_ANCHOR_DIR = "anchor_essays"
ENG5_STUDENT_DIR = "student_essays"



@dataclass(frozen=True)
class InventoryLine:
    """One check-mark line of the plan inventory (``✅ Instructions: path``)."""

    ok: bool
    text: str

    def render(self) -> str:
        return f"{'✅' if self.ok else '❌'} {self.text}"


@dataclass(frozen=True)
class Eng5Inputs:
    """The validated inputs of a run."""

    folder: InputFolder
    """Texts and essays in the project's shape (what ``spec_from_folder`` and ``plan_batch``
    take). ``prompt`` is the prompt file, or None when the instructions double as prompt."""
    layout: str
    """``eng5`` or ``cjgrade``."""
    inventory: tuple[InventoryLine, ...]
    prompt_source: str | None
    """The file that serves as student prompt (the instructions file when it doubles)."""
    csv_path: str | None = None
    anchor_ids: dict[str, str] = field(default_factory=dict)
    """Anchor essay id -> its ``ANCHOR-ID`` in the ENG5 CSV (anchors the CSV names only);
    ``--boundary-pairs`` accepts it as the anchor's name."""

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.folder.warnings


def is_eng5_layout(root: Path) -> bool:
    """True when ``root`` looks like the original's asset folder."""
    return any(os.path.lexists(root / name)
               for name in (ENG5_ANCHOR_DIR, ENG5_STUDENT_DIR, ENG5_INSTRUCTIONS))


def read_inputs(
    root: Path,
    *,
    scale_id: str,
    user_scales: tuple[GradeScale, ...] = (),
    need_students: bool = True,
    need_anchors: bool = True,
    need_instructions: bool = True,
    anchor_dir: Path | None = None,
) -> Eng5Inputs:
    """Read and validate the input folder ``root``.

    Parameters
    ----------
    scale_id : the grade scale anchor grades are checked against (the assignment's, or the
        ad hoc default).
    need_students : False for modes that judge anchors only (anchor-align-test): the student
        folder may then be missing or empty, and is not read.
    need_anchors : False when the anchors come from elsewhere (execute against an assignment's
        registered anchors): the anchor folder is then not read.
    need_instructions : False when the instructions come from a stored assignment.
    anchor_dir : another folder of anchors (``--anchor-dir``), instead of ``anchor_essays/``.

    Raises
    ------
    InputError
        Every problem of the folder, one per line, before anything is written.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            f"{shown(root)}: not a folder; pass --input-dir with the ENG5 asset folder "
            f"({ENG5_ANCHOR_DIR}/, {ENG5_STUDENT_DIR}/, {ENG5_INSTRUCTIONS}) or a cjgrade input "
            "folder (instructions.md, anchors/, students/)")
    get_scale(scale_id, user_scales)  # unknown scale: ConfigError listing the known ones
    if not is_eng5_layout(root) and anchor_dir is None:
        return _project_layout(root, scale_id, need_anchors=need_anchors)
    if not is_eng5_layout(root) and (need_students or need_instructions):
        return _project_with_anchor_dir(root, scale_id, user_scales, anchor_dir,
                                        need_anchors=need_anchors)
    return _Eng5Reader(root, scale_id, user_scales, anchor_dir).read(
        need_students=need_students, need_anchors=need_anchors,
        need_instructions=need_instructions)


def _project_with_anchor_dir(root: Path, scale_id: str, user_scales: tuple[GradeScale, ...],
                             anchor_dir: Path | None, *, need_anchors: bool) -> Eng5Inputs:
    """A cjgrade input folder whose anchors come from ``--anchor-dir``: instructions, prompt,
    students and ``config.toml`` from the folder, the anchors (``anchors.csv`` or file-name
    grades) from the other folder."""
    project = _project_layout(root, scale_id, need_anchors=False)
    if not need_anchors:
        return project
    anchors = _Eng5Reader(root, scale_id, user_scales, anchor_dir).read(
        need_students=False, need_anchors=True, need_instructions=False)
    folder = replace(project.folder, anchors=anchors.folder.anchors,
                     warnings=project.folder.warnings + anchors.folder.warnings)
    inventory = tuple(
        InventoryLine(bool(folder.anchors), f"Anchor essays: {len(folder.anchors)} files under "
                      f"{anchor_dir}") if line.text.startswith("Anchor essays:") else line
        for line in project.inventory)
    return replace(project, folder=folder, inventory=inventory)


def _project_layout(root: Path, scale_id: str, *, need_anchors: bool) -> Eng5Inputs:
    folder = read_input_folder(root, resolve_grade=resolve_grade)
    if not need_anchors:  # the assignment's registered anchors are used, not the folder's
        folder = replace(folder, anchors=())
    elif folder.grade_scale != scale_id and folder.anchors:
        raise InputError(
            f"{shown(root)}/config.toml sets grade_scale {folder.grade_scale!r} but this run "
            f"uses {scale_id!r}; make them agree")
    inventory = (
        InventoryLine(True, f"Instructions: {folder.instructions.source_path}"),
        InventoryLine(folder.prompt is not None,
                      f"Prompt: {folder.prompt.source_path if folder.prompt else 'none'}"),
        InventoryLine(True, f"Anchor essays: {len(folder.anchors)} files under {root / 'anchors'}"),
        InventoryLine(bool(folder.students),
                      f"Student essays: {len(folder.students)} files under {root / 'students'}"),
    )
    return Eng5Inputs(folder=folder, layout="cjgrade", inventory=inventory,
                      prompt_source=folder.prompt.source_path if folder.prompt else None)


class _Eng5Reader:
    """One read of an ENG5 folder: every problem collected in ``reader.problems``."""

    def __init__(self, root: Path, scale_id: str, user_scales: tuple[GradeScale, ...],
                 anchor_dir: Path | None) -> None:
        self.root = root
        self.scale_id = scale_id
        self.user_scales = user_scales
        self.anchor_dir = anchor_dir or root / ENG5_ANCHOR_DIR
        within = (root.resolve(),) if anchor_dir is None else (root.resolve(),
                                                                anchor_dir.resolve())
        self.reader = _WideReader(root, DEFAULT_MAX_FILE_BYTES)
        self.reader.extra_within = within
        self.warnings: list[str] = []
        self.anchor_ids: dict[str, str] = {}
        """Anchor file name -> ANCHOR-ID of the ENG5 CSV."""

    def _text(self, name: str, *, required: bool, fix: str) -> InputText | None:
        path = self.root / name
        if not os.path.lexists(path):
            if required:
                self.reader.problems.append(f"{shown(path)}: missing; {fix}")
            return None
        doc = self.reader.document(path)
        return None if doc is None else InputText(str(path), doc.sha256, doc.text)

    def read(self, *, need_students: bool, need_anchors: bool,
             need_instructions: bool) -> Eng5Inputs:
        root, problems = self.root, self.reader.problems
        instructions = self._text(ENG5_INSTRUCTIONS, required=need_instructions,
                                  fix="write the essay instructions there")
        prompt = self._text("prompt.md", required=False, fix="")
        rubric = self._text("rubric.md", required=False, fix="")
        csv_grades, csv_path = self._csv_grades() if need_anchors else ({}, None)
        anchors: list[InputEssay] = []
        if need_anchors and self.reader.folder(
                self.anchor_dir, required=True,
                fix=f"put the graded anchor essays in {ENG5_ANCHOR_DIR}/ (or pass --anchor-dir)"):
            anchors = self._essays(self.anchor_dir, is_anchor=True, csv_grades=csv_grades)
            for name, row in csv_grades.items():
                if not (self.anchor_dir / name).exists():
                    problems.append(f"{ENG5_CSV} line {row.line}: lists '{printable(name)}', "
                                    f"which is not in {shown(self.anchor_dir)}")
        students: list[InputEssay] = []
        student_dir = root / ENG5_STUDENT_DIR
        if need_students and self.reader.folder(
                student_dir, required=True, fix=f"put the student essays in {ENG5_STUDENT_DIR}/"):
            students = self._essays(student_dir, is_anchor=False, csv_grades={})
        if problems:
            listing = "\n  ".join(problems)
            raise InputError(f"{len(problems)} problem(s) in {shown(root)}; fix them before "
                             f"running:\n  {listing}")
        names = {a.file_name: a.essay_id for a in anchors}
        anchor_ids = {names[n]: i for n, i in self.anchor_ids.items() if n in names}
        folder = InputFolder(
            root=root,
            instructions=instructions or InputText("", "", ""),
            prompt=prompt, rubric=rubric, anchors=tuple(anchors), students=tuple(students),
            grade_scale=self.scale_id, label=root.name, user_scales=self.user_scales,
            warnings=tuple(self.warnings + _duplicate_warnings([*anchors, *students])),
        )
        prompt_source = (prompt.source_path if prompt
                         else instructions.source_path if instructions else None)
        inventory = (
            InventoryLine(instructions is not None,
                          f"Instructions: {root / ENG5_INSTRUCTIONS}"),
            InventoryLine(prompt_source is not None, f"Prompt: {prompt_source or 'none'}"
                          + (" (the instructions double as prompt)" if prompt is None
                             and instructions is not None else "")),
            InventoryLine(rubric is not None,
                          f"Rubric: {rubric.source_path if rubric else 'none'}"),
            InventoryLine(csv_path is not None, f"Anchors CSV: {root / ENG5_CSV}"),
            InventoryLine(os.path.lexists(root / ENG5_XLSX),
                          f"Anchors XLSX: {root / ENG5_XLSX} (never read)"),
            InventoryLine(bool(anchors) or not need_anchors,
                          f"Anchor essays: {len(anchors)} files under {self.anchor_dir}"
                          + ("" if need_anchors else " (not used: the assignment's registered "
                             "anchors are)")),
            InventoryLine(bool(students) or not need_students,
                          f"Student essays: {len(students)} files under {student_dir}"
                          + ("" if need_students else " (not used in this mode)")),
        )
        return Eng5Inputs(folder=folder, layout="eng5", inventory=inventory,
                          prompt_source=prompt_source, csv_path=csv_path,
                          anchor_ids=anchor_ids)

    # --- anchors CSV ------------------------------------------------------------------------

    def _csv_grades(self) -> tuple[dict[str, CsvGrade], str | None]:
        path = self.root / ENG5_CSV
        if not os.path.lexists(path):
            return {}, None
        raw = self.reader.small_file(path)
        if raw is None:
            return {}, str(path)
        found = read_eng5_csv(path, raw, anchor_dir=self.anchor_dir,
                              student_dir=self.root / ENG5_STUDENT_DIR,
                              problems=self.reader.problems, warnings=self.warnings)
        self.anchor_ids.update(found.anchor_ids)
        return found.grades, str(path)

    # --- essays -----------------------------------------------------------------------------

    def _essays(self, folder: Path, *, is_anchor: bool,
                csv_grades: dict[str, CsvGrade]) -> list[InputEssay]:
        out: list[InputEssay] = []
        problems = self.reader.problems
        rows: dict[str, list[GradeRow]] = {
            name: [GradeRow(row.grade, row.line, ENG5_CSV)] for name, row in csv_grades.items()}
        if is_anchor:
            for name, row in self._folder_csv(folder).items():
                rows.setdefault(name, []).append(row)
        for essay_id, path, doc in essay_documents(self.reader, folder, is_anchor=is_anchor):
            grade = anchor_grade(path, rows.get(path.name, []), self.scale_id, self.user_scales,
                                 problems) if is_anchor else None
            if is_anchor and grade is None:
                continue
            out.append(InputEssay(essay_id=essay_id, file_name=path.name, source_path=str(path),
                                  sha256=doc.sha256, text=doc.text, is_anchor=is_anchor,
                                  grade=grade))
        return out

    def _folder_csv(self, folder: Path) -> dict[str, GradeRow]:
        path = folder / ANCHORS_CSV
        if not os.path.lexists(path):
            return {}
        raw = self.reader.small_file(path)
        return {} if raw is None else read_folder_csv(path, raw, self.reader.problems)


class _WideReader(_Reader):
    """The project's folder reader, allowed into ``--anchor-dir`` as well as the root."""

    extra_within: tuple[Path, ...] = ()

    @property
    def within(self) -> tuple[Path, ...]:
        return self.extra_within or (self.root.resolve(),)
