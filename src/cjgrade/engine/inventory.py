"""The artefact's ``inputs`` inventory of a batch whose texts were submitted as content.

A batch read from an input folder stores the folder's inventory (every file with its path and
SHA-256, :func:`cjgrade.runner.folder_spec.inputs_manifest`). A batch submitted through the
API or the bus has no files: its texts live in the content store, addressed by the SHA-256 of
their UTF-8 bytes. Its inventory names them there: ``root`` is null, ``source_path`` is
``content:<id>`` (``GET /v1/content/<id>`` returns the text) and ``sha256`` is that id.

:func:`run_mode` tells the two apart for the artefact's ``metadata.mode``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from cjgrade.domain import Essay
from cjgrade.store.content import content_id

__all__ = ["CONTENT_PREFIX", "content_inventory", "run_mode"]

CONTENT_PREFIX = "content:"


def _text(text: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    cid = content_id(text)
    return {"source_path": CONTENT_PREFIX + cid, "sha256": cid, "chars": len(text)}


def _essay(e: Essay) -> dict[str, Any]:
    cid = content_id(e.text)
    return {"essay_id": e.id, "file_name": e.label or e.id, "source_path": CONTENT_PREFIX + cid,
            "sha256": cid, "grade": e.grade if e.is_anchor else None}


def content_inventory(
    essays: Sequence[Essay], *, instructions: str, student_prompt: str = "", rubric: str = "",
) -> dict[str, Any]:
    """The ``inputs`` section for texts held in the content store (see the module docstring)."""
    return {
        "root": None,
        "instructions": _text(instructions),
        "prompt": _text(student_prompt),
        "rubric": _text(rubric),
        "anchors": [_essay(e) for e in essays if e.is_anchor],
        "students": [_essay(e) for e in essays if not e.is_anchor],
        "scales_file": None,
    }


def run_mode(inputs: dict[str, Any]) -> Literal["embedded", "distributed"]:
    """``embedded`` for a batch read from a folder by the process that ran it (its inventory
    has a ``root``); ``distributed`` for one submitted as content (API or bus), which the
    orchestrator runs on workers."""
    return "embedded" if inputs.get("root") else "distributed"
