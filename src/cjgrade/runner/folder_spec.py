"""From an input folder to a batch spec and the artefact's input inventory."""

from __future__ import annotations

from typing import Any

from cjgrade.domain import Essay
from cjgrade.engine.spec import BatchSpec
from cjgrade.runner.inputs import InputFolder, InputText

__all__ = ["inputs_manifest", "spec_from_folder"]


def _text_entry(text: InputText | None) -> dict[str, Any] | None:
    if text is None:
        return None
    return {"source_path": text.source_path, "sha256": text.sha256, "chars": len(text.text)}


def inputs_manifest(folder: InputFolder) -> dict[str, Any]:
    """The artefact's ``inputs`` section: every input file with its SHA-256."""
    return {
        "root": str(folder.root),
        "instructions": _text_entry(folder.instructions),
        "prompt": _text_entry(folder.prompt),
        "rubric": _text_entry(folder.rubric),
        "anchors": [
            {"essay_id": e.essay_id, "file_name": e.file_name, "source_path": e.source_path,
             "sha256": e.sha256, "grade": e.grade}
            for e in folder.anchors
        ],
        "students": [
            {"essay_id": e.essay_id, "file_name": e.file_name, "source_path": e.source_path,
             "sha256": e.sha256, "grade": None}
            for e in folder.students
        ],
        "scales_file": folder.scales_file,
    }


def spec_from_folder(
    folder: InputFolder,
    *,
    judge: str,
    base_url: str | None = None,
    grades_requested: bool | None = None,
) -> BatchSpec:
    """An ad hoc batch spec from an input folder (the folder's assignment id is a reference)."""
    essays = tuple(
        Essay(id=e.essay_id, text=e.text, is_anchor=e.is_anchor, grade=e.grade,
              label=e.file_name)
        for e in folder.essays
    )
    return BatchSpec(
        essays=essays,
        instructions=folder.instructions.text,
        student_prompt=folder.prompt.text if folder.prompt else "",
        rubric=folder.rubric.text if folder.rubric else "",
        system_prompt=folder.system_prompt or "",
        judge=judge,
        grade_scale=folder.grade_scale,
        label=folder.label,
        assignment_ref=folder.assignment_id,
        base_url=base_url,
        grades_requested=folder.grades_requested if grades_requested is None
        else grades_requested,
        options=folder.options,
        inputs=inputs_manifest(folder),
        user_scales=folder.user_scales,
    )

