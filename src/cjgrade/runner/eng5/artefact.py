"""The runner's artefact ``assessment_run.<mode>.json``, validated on write.

Shape: the project's artefact (:mod:`cjgrade.reports.artefact`, ``docs/artefact.md``) plus

* ``runner``: mode, ``batch_uuid`` and label, course fields, the resolved assignment, every
  judge setting, the system prompt and rubric texts with their SHA-256, the settings used;
  per mode ``anchor_alignment``, ``boundary_test`` or ``cluster``
  (:mod:`cjgrade.runner.eng5.schema_sections`); no other key;
* ``validation.manifest``: every file under this run's ``requests/``, ``events/`` and
  ``db_extract/`` with SHA-256 and size (the run folder is this run's only, so no file of
  another run can appear);
* ``validation.runner_status``: ``partial_data``, ``timeout_seconds``, observed event counts;
* ``validation.post_run``: what ran after the batch (``eng5_db_extract``).

The schema (``schema/eng5_assessment_run.schema.json``) is the project's schema extended with
those keys by :func:`build_runner_schema`; the shipped file is checked against it by a test.
``--artefact-format huleedu-1.0`` also writes the original's shape (:mod:`huleedu`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cjgrade import __version__
from cjgrade.errors import InputError
from cjgrade.judges.manifest import is_local_judge
from cjgrade.reports.artefact import SCHEMA_VERSION, canonical_checksum, git_sha, load_schema
from cjgrade.runner.eng5.schema_sections import ANCHOR_ALIGNMENT, BOUNDARY_TEST, CLUSTER

__all__ = [
    "MANIFEST_FOLDERS",
    "RUNNER_SCHEMA_FILE",
    "build_runner_schema",
    "dry_run_artefact",
    "extend_artefact",
    "file_manifest",
    "load_runner_schema",
    "runner_status",
    "validate_against",
    "validate_runner_artefact",
    "write_json_atomic",
    "write_report_run",
    "write_runner_artefact",
]

RUNNER_SCHEMA_FILE = "eng5_assessment_run.schema.json"
MANIFEST_FOLDERS = ("requests", "events", "db_extract")

_SHA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_TEXT_RECORD = {
    "type": ["object", "null"],
    "properties": {"source": {"type": ["string", "null"]}, "text": {"type": "string"},
                   "sha256": _SHA},
    "required": ["source", "text", "sha256"],
    "additionalProperties": False,
}
_RUNNER = {
    "type": "object",
    "description": "what the ENG5 NP runner adds: its mode, course fields, every judge setting, "
                   "the prompts sent",
    "properties": {
        "runner_version": {"type": "string"},
        "mode": {"enum": ["plan", "dry-run", "execute", "anchor-align-test", "boundary-test"]},
        "batch_uuid": {"type": "string", "format": "uuid"},
        "batch_label": {"type": "string"},
        "course_id": {"type": ["string", "null"]},
        "course_code": {"enum": ["ENG5", "ENG6", "ENG7", "SV1", "SV2", "SV3"]},
        "language": {"enum": ["en", "sv"]},
        "input_layout": {"enum": ["eng5", "cjgrade"]},
        "expected_grade_scale": {"type": ["string", "null"]},
        "assignment": {"type": ["object", "null"]},
        "judge": {
            "type": "object",
            "properties": {
                "name": {"type": ["string", "null"]},
                "provider": {"type": ["string", "null"]},
                "model": {"type": ["string", "null"]},
                "base_url": {"type": ["string", "null"]},
                "temperature": {"type": ["number", "null"]},
                "max_tokens": {"type": ["integer", "null"]},
                "reasoning_effort": {"enum": ["none", "low", "medium", "high", None]},
                "output_verbosity": {"enum": ["low", "medium", "high", None]},
                "batching_mode": {"enum": ["per_request", "provider_batch_api"]},
                "language": {"enum": ["en", "sv"]},
            },
            "required": ["name", "provider", "model", "base_url", "temperature", "max_tokens",
                         "reasoning_effort", "output_verbosity", "batching_mode", "language"],
            "additionalProperties": False,
        },
        "prompts": {
            "type": "object",
            "properties": {"system_prompt": _TEXT_RECORD, "rubric": _TEXT_RECORD},
            "required": ["system_prompt", "rubric"],
            "additionalProperties": False,
        },
        "settings": {"type": "object"},
        "capacity": {"type": ["integer", "null"], "minimum": 0},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "anchor_alignment": ANCHOR_ALIGNMENT,
        "boundary_test": BOUNDARY_TEST,
        "cluster": CLUSTER,
    },
    "required": ["runner_version", "mode", "batch_uuid", "batch_label", "course_id",
                 "course_code", "language", "input_layout", "assignment", "judge", "prompts",
                 "settings"],
    "additionalProperties": False,
}
_MANIFEST = {
    "type": "array",
    "description": "every file under this run's requests/, events/ and db_extract/",
    "items": {"type": "object",
              "properties": {"path": {"type": "string"}, "sha256": _SHA,
                             "bytes": {"type": "integer", "minimum": 0}},
              "required": ["path", "sha256", "bytes"], "additionalProperties": False},
}
_RUNNER_STATUS = {
    "type": "object",
    "properties": {
        "partial_data": {"type": "boolean"},
        "timeout_seconds": {"type": ["number", "null"], "minimum": 0},
        "observed_events": {
            "type": "object",
            "properties": {"comparisons": {"type": "integer", "minimum": 0},
                           "assessment_results": {"type": "integer", "minimum": 0},
                           "completions": {"type": "integer", "minimum": 0}},
            "required": ["comparisons", "assessment_results", "completions"],
            "additionalProperties": False,
        },
    },
    "required": ["partial_data", "timeout_seconds", "observed_events"],
    "additionalProperties": True,
}
_POST_RUN = {
    "type": "object",
    "properties": {"eng5_db_extract": {"type": ["object", "null"]}},
    "required": ["eng5_db_extract"],
    "additionalProperties": True,
}


def build_runner_schema(project: dict[str, Any] | None = None) -> dict[str, Any]:
    """The runner's schema: the project's plus ``runner`` and the validation additions. A
    dry-run artefact has no batch yet, so ``metadata.status`` may also be ``not_run``; a
    cluster execute that stopped waiting (``--completion-timeout``, or no
    ``--await-completion``) records a batch that is still ``running``."""
    schema = copy.deepcopy(project if project is not None else load_schema())
    schema["$id"] = "https://cjgrade.dev/schemas/eng5_assessment_run.schema.json"
    schema["title"] = "cjgrade ENG5 NP runner artefact"
    schema["description"] = (f"The project's assessment_run artefact (schema_version "
                             f"{SCHEMA_VERSION}) plus the ENG5 NP runner's additions: runner, "
                             "validation.manifest, validation.runner_status, "
                             "validation.post_run.")
    props = schema["properties"]
    props["runner"] = _RUNNER
    schema["required"] = [*schema["required"], "runner"]
    validation = props["validation"]
    validation["properties"].update(manifest=_MANIFEST, runner_status=_RUNNER_STATUS,
                                    post_run=_POST_RUN)
    validation["required"] = [*validation["required"], "manifest", "runner_status", "post_run"]
    status = props["metadata"]["properties"]["status"]
    status["enum"] = [*status["enum"], "not_run", "running"]
    return schema


def load_runner_schema() -> dict[str, Any]:
    """The shipped runner schema."""
    text = resources.files("cjgrade.runner.eng5").joinpath(
        f"schema/{RUNNER_SCHEMA_FILE}").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_against(doc: dict[str, Any], schema: dict[str, Any], what: str) -> None:
    """Raise InputError listing the first problems of ``doc`` against ``schema``."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                 for e in errors[:10]]
        raise InputError(f"{what} does not match its schema (a bug; please report it):\n  "
                         + "\n  ".join(lines))


def validate_runner_artefact(doc: dict[str, Any]) -> None:
    validate_against(doc, load_runner_schema(), "the runner artefact")


# --- building -------------------------------------------------------------------------------


def file_manifest(run_dir: Path, folders: Iterable[str] = MANIFEST_FOLDERS
                  ) -> list[dict[str, Any]]:
    """Every file under ``run_dir``'s ``requests/``, ``events/`` and ``db_extract/``, sorted,
    with SHA-256 and size (paths relative to ``run_dir``, ``/``-separated)."""
    out = []
    for name in folders:
        base = run_dir / name
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            data = path.read_bytes()
            out.append({"path": path.relative_to(run_dir).as_posix(),
                        "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    return out


def runner_status(*, partial_data: bool = False, timeout_seconds: float | None = None,
                  comparisons: int = 0, assessment_results: int = 0,
                  completions: int = 0) -> dict[str, Any]:
    """``validation.runner_status``."""
    return {"partial_data": partial_data, "timeout_seconds": timeout_seconds,
            "observed_events": {"comparisons": comparisons,
                                "assessment_results": assessment_results,
                                "completions": completions}}


def extend_artefact(
    doc: dict[str, Any],
    runner: dict[str, Any],
    *,
    run_dir: Path,
    status: dict[str, Any] | None = None,
    post_run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The project artefact ``doc`` with the runner's additions, checksum recomputed."""
    out = copy.deepcopy(doc)
    out["runner"] = runner
    validation = out.setdefault("validation", {})
    validation["manifest"] = file_manifest(run_dir)
    validation["runner_status"] = status or runner_status()
    validation["post_run"] = post_run or {"eng5_db_extract": None}
    validation["artefact_sha256"] = canonical_checksum(out)
    return out


def dry_run_artefact(inputs: dict[str, Any], *, batch_uuid: str, label: str,
                     assignment_id: str | None, grade_scale: str | None, judge: str,
                     options: dict[str, Any]) -> dict[str, Any]:
    """The project-shaped part of a dry-run artefact: metadata and inputs, empty results
    (``metadata.status`` ``not_run``; no judge was called)."""
    now = datetime.now(UTC).isoformat()
    return {
        "schema_version": SCHEMA_VERSION,
        "metadata": {
            "batch_uuid": batch_uuid, "label": label, "assignment_id": assignment_id,
            "grade_scale": grade_scale, "judge": judge,
            "judge_is_llm": not is_local_judge(judge),
            "mode": "embedded", "status": "not_run", "stop_reason": "dry_run",
            "failure_reason": None, "options": options, "started_at": None,
            "finished_at": None, "duration_s": None, "generated_at": now,
            "versions": {"cjgrade": __version__, "python": platform.python_version(),
                         "platform": platform.platform()},
            "git_sha": git_sha(),
        },
        "inputs": inputs,
        "comparisons": [], "rounds": [], "essays": [], "judges": [],
        "reliability": {"ssr": None, "separation": None},
        "position_bias": {"estimate": None, "se": None, "a_slot_win_rate": None},
        "grades": {"available": False, "reason": "dry run: no judge was called",
                   "grade_scale": grade_scale},
        "alignment": None,
        "costs": {"total_usd": 0.0, "n_comparisons": 0, "n_succeeded": 0, "n_failed": 0,
                  "n_cache_hits": 0, "by_model": []},
        "validation": {"artefact_sha256": None, "checksum_method": _checksum_method()},
    }


def _checksum_method() -> str:
    from cjgrade.reports.artefact import _CHECKSUM_METHOD

    return _CHECKSUM_METHOD


# --- writing --------------------------------------------------------------------------------


def write_json_atomic(doc: Any, path: Path) -> Path:
    """Write JSON through a temporary file and a rename (no half-written artefact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_runner_artefact(doc: dict[str, Any], run_dir: Path, mode: str, *,
                          artefact_format: str = "cjgrade") -> dict[str, Path]:
    """Validate and write ``assessment_run.<mode>.json`` (and, for ``huleedu-1.0``, also
    ``assessment_run.<mode>.huleedu-1.0.json``). Returns ``{kind: path}``.

    Raises
    ------
    InputError
        When a document does not match its schema (nothing is written then).
    """
    validate_runner_artefact(doc)
    docs: dict[str, tuple[dict[str, Any], Path]] = {
        "artefact": (doc, run_dir / f"assessment_run.{mode}.json")}
    if artefact_format == "huleedu-1.0":
        from cjgrade.runner.eng5.huleedu import to_huleedu, validate_huleedu

        legacy = to_huleedu(doc)
        validate_huleedu(legacy)
        docs["huleedu-1.0"] = (legacy, run_dir / f"assessment_run.{mode}.huleedu-1.0.json")
    return {kind: write_json_atomic(d, path) for kind, (d, path) in docs.items()}


def write_report_run(doc: dict[str, Any], runner: dict[str, Any], *, run_dir: Path, mode: str,
                     artefact_format: str, section: str, figures: dict[str, Any],
                     report_name: str, report_text: str) -> dict[str, Path]:
    """Finish a mode whose result is a Markdown report (anchor alignment, boundary test):
    write the report, put its figures and checksum in ``runner[section]``, and write the
    artefact. Returns ``{"report": path, kind: path, ...}``."""
    report_path = run_dir / report_name
    report_path.write_text(report_text, encoding="utf-8")
    runner[section] = {
        **figures,
        "report_file": {"path": report_name,
                        "sha256": hashlib.sha256(report_text.encode("utf-8")).hexdigest()},
    }
    doc = extend_artefact(doc, runner, run_dir=run_dir)
    return {"report": report_path,
            **write_runner_artefact(doc, run_dir, mode, artefact_format=artefact_format)}
