"""Helpers of ``cjgrade batches``: the request body from a folder, and the progress views.

The body is built from the same reader ``cjgrade run`` uses, so a folder that ``cjgrade run``
accepts is submitted with the same essays, grades and options; essay texts go up to the
content store first (``POST /v1/content``) and the batch names them by content id, so a batch
of any size fits the API's body limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cjgrade.display import printable
from cjgrade.errors import InputError

__all__ = ["body_from_assignment_folder", "body_from_folder", "progress_line", "watch_table"]

TERMINAL = ("completed", "failed", "cancelled")


def _essay(essay_id: str, cid: str, file_name: str | None, *, is_anchor: bool = False,
           grade: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"essay_id": essay_id, "content_id": cid, "is_anchor": is_anchor}
    if grade is not None:
        out["grade"] = grade
    if file_name:
        out["file_name"] = file_name
    return out


async def body_from_folder(client: Any, folder: Any, *, judge: str, grades: bool,
                           label: str | None, base_url: str | None) -> dict[str, Any]:
    """The ``POST /v1/batches`` body of an input folder (texts uploaded first)."""
    essays = []
    for e in folder.essays:
        cid = await client.upload_content(e.text)
        essays.append(_essay(e.essay_id, cid, e.file_name, is_anchor=e.is_anchor,
                             grade=e.grade))
    body: dict[str, Any] = {
        "judge": judge, "essays": essays, "instructions": folder.instructions.text,
        "grade_scale": folder.grade_scale, "label": label or folder.label, "grades": grades,
        "options": folder.options.to_dict(),
    }
    for key, text in (("student_prompt", folder.prompt), ("rubric", folder.rubric)):
        if text is not None:
            body[key] = text.text
    if folder.system_prompt:
        body["system_prompt"] = folder.system_prompt
    if base_url:
        body["base_url"] = base_url
    return body


def student_files(folder: Path) -> list[Path]:
    """The essay files of a students-only folder: ``FOLDER/students/`` if it exists, else the
    files directly in ``FOLDER`` (hidden files skipped, other types refused)."""
    from cjgrade.runner.documents import SUPPORTED_SUFFIXES

    root = folder / "students" if (folder / "students").is_dir() else folder
    if not root.is_dir():
        raise InputError(f"{printable(folder)}: not a folder of student essays")
    files, refused = [], []
    for path in sorted(root.iterdir()):
        if path.name.startswith((".", "~$")):
            continue
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(path)
        else:
            refused.append(path.name)
    if refused:
        raise InputError(f"{printable(root)}: {printable(refused[:5])} are not essay files "
                         f"({', '.join(SUPPORTED_SUFFIXES)}); move them out")
    return files


async def body_from_assignment_folder(client: Any, folder: Path, *, assignment_id: str,
                                      judge: str, grades: bool, label: str | None,
                                      options: dict[str, Any],
                                      base_url: str | None) -> dict[str, Any]:
    """The body of a batch on a stored assignment: the student essays of ``folder``."""
    from cjgrade.runner.documents import read_document

    essays = []
    for path in student_files(folder):
        text = read_document(path).text
        essays.append(_essay(path.stem, await client.upload_content(text), path.name))
    body: dict[str, Any] = {"judge": judge, "assignment_id": assignment_id, "essays": essays,
                            "grades": grades, "options": options}
    if label:
        body["label"] = label
    if base_url:
        body["base_url"] = base_url
    return body


def _cost(b: Any) -> str:
    lower = "≥ " if b.cost_unknown_comparisons else ""
    return f"{lower}${b.cost_usd:.4f}"


def _reliability(b: Any) -> str:
    return "-" if b.reliability is None else f"{b.reliability:.3f}"


def progress_line(b: Any) -> str:
    """One line: status, comparisons done of planned, failures, reliability, cost."""
    line = (f"{b.batch_uuid}  {b.status:<10} {b.comparisons_done}/{b.comparisons_planned} "
            f"comparisons ({b.comparisons_failed} failed), round {b.rounds_fitted}, "
            f"reliability {_reliability(b)}, cost {_cost(b)}")
    if b.failure_reason:
        line += f"; {printable(b.failure_reason)}"
    return line


def print_batch(b: Any) -> None:
    """``cjgrade batches show``: every figure of the batch, one per line."""
    rows = [
        ("batch", b.batch_uuid), ("label", b.label or "-"), ("status", b.status),
        ("judge", b.judge or "-"), ("assignment", b.assignment_id or "-"),
        ("grade scale", b.grade_scale or "-"),
        ("essays", f"{b.n_students} students, {b.n_anchors} anchors"),
        ("comparisons", f"{b.comparisons_done} done of {b.comparisons_planned} planned "
                        f"({b.comparisons_succeeded} succeeded, {b.comparisons_failed} failed, "
                        f"{b.comparisons_pending} pending)"),
        ("rounds", str(b.rounds_fitted)), ("reliability", _reliability(b)),
        ("stop reason", b.stop_reason or "-"), ("cost", _cost(b)),
        ("created", b.created_at.isoformat()),
        ("finished", b.finished_at.isoformat() if b.finished_at else "-"),
    ]
    if b.failure_reason:
        rows.append(("failure", b.failure_reason))
    for key, value in rows:
        typer.echo(f"{key:<12} {printable(value)}")


def watch_table(b: Any) -> Any:
    """The live view of ``cjgrade batches watch``: a bar of comparisons done and the figures."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("batch", f"{b.batch_uuid}  {printable(b.label or '')}")
    table.add_row("status", b.status)
    table.add_row("comparisons", f"{b.comparisons_done}/{b.comparisons_planned} "
                                 f"({b.comparisons_failed} failed, {b.comparisons_pending} "
                                 "in flight)")
    table.add_row("round", str(b.rounds_fitted))
    table.add_row("reliability", _reliability(b))
    table.add_row("cost", _cost(b))
    total = max(b.comparisons_planned, 1)
    bar = ProgressBar(total=total, completed=min(b.comparisons_done, total), width=60)
    return Group(bar, table)
