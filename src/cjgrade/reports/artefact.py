"""The JSON artefact of a run: self-describing, checksummed, validated by a shipped schema.

``schema_version`` follows semantic versioning: a new optional field bumps the minor version,
a removed or renamed field the major one. The checksum in ``validation.artefact_sha256`` is the
SHA-256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of the whole artefact with
that one field set to ``null``; :func:`verify_checksum` recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cjgrade import __version__
from cjgrade.engine.results import BatchResult, EssayOutcome
from cjgrade.errors import ConfigError, InputError
from cjgrade.judges.manifest import is_local_judge
from cjgrade.reports.sections import analysis_sections
from cjgrade.store.records import ComparisonRecord

__all__ = [
    "ARTEFACT_FILE",
    "SCHEMA_VERSION",
    "build_artefact",
    "canonical_checksum",
    "find_artefact",
    "load_artefact",
    "load_schema",
    "validate_artefact",
    "verify_checksum",
    "write_artefact",
]

SCHEMA_VERSION = "1.5.0"
ARTEFACT_FILE = "assessment_run.json"


def git_sha() -> str | None:
    """The commit of the source tree the package runs from, when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def _essay(e: EssayOutcome) -> dict[str, Any]:
    grade = None
    if e.grade is not None:
        grade = {
            "grade": e.grade.grade,
            "probabilities": e.grade.probabilities,
            "expected_grade_index": e.grade.expected,
            "confidence": e.grade.confidence,
            "confidence_label": e.grade.confidence_label,
            "reliable": e.grade.reliable,
        }
    return {
        "essay_id": e.essay_id,
        "file_name": e.file_name,
        "is_anchor": e.is_anchor,
        "anchor_grade": e.anchor_grade,
        "theta": e.theta,
        "se": e.se,
        "rank": e.rank,
        "comparison_count": e.n_comparisons,
        "wins": e.wins,
        "losses": e.n_comparisons - e.wins,
        "failed_comparisons": e.n_failed,
        "a_slot_count": e.a_slot,
        "b_slot_count": e.b_slot,
        "infit": e.infit,
        "outfit": e.outfit,
        "grade_projection": grade,
        "injection_flags": [{"code": m.code, "phrase": m.phrase} for m in e.injection_flags],
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _comparison(c: ComparisonRecord) -> dict[str, Any]:
    """A comparison's JSON in the artefact (the one place its shape is decided)."""
    winner_id = loser_id = None
    if c.status == "succeeded" and c.winner in ("A", "B"):
        winner_id, loser_id = (c.essay_a, c.essay_b) if c.winner == "A" else (c.essay_b, c.essay_a)
    return {
        "comparison_id": c.id,
        "round": c.round,
        "slot": c.slot,
        "essay_a_id": c.essay_a,
        "essay_b_id": c.essay_b,
        "status": c.status,
        "winner": c.winner,
        "winner_id": winner_id,
        "loser_id": loser_id,
        "p_a": c.p_a,
        "confidence": c.confidence,
        "justification": c.justification,
        "provider": c.provider,
        "model": c.model,
        "request_sha256": c.request_sha256,
        "input_tokens": c.input_tokens,
        "output_tokens": c.output_tokens,
        "cache_read_tokens": c.cache_read_tokens,
        "cache_write_tokens": c.cache_write_tokens,
        "cost_usd": c.cost_usd,
        "latency_s": c.latency_s,
        "attempts": c.attempts,
        "flags": list(c.flags),
        "error_code": c.error_code,
        "failure_reason": c.error_reason,
        "created_at": _iso(c.created_at),
        "completed_at": _iso(c.completed_at),
    }


def build_artefact(
    result: BatchResult,
    inputs: dict[str, Any],
    *,
    mode: str = "embedded",
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """Assemble the artefact (checksum included) from a finished batch.

    ``inputs`` is the inventory stored with the batch (paths and SHA-256 of every input file).
    """
    generated = (generated_at or datetime.now(UTC)).isoformat()
    costs = [asdict(line) for line in result.costs]
    sections = analysis_sections(result)
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        # first thing in the file: whether the result may be used at all
        **({"quality": sections.pop("quality")} if "quality" in sections else {}),
        "metadata": {
            "batch_uuid": result.batch_uuid,
            "label": result.label,
            "assignment_id": result.assignment_id,
            "grade_scale": result.grade_scale,
            "judge": result.judge,
            "judge_is_llm": not is_local_judge(result.judge),
            "mode": mode,
            "status": result.status,
            "stop_reason": result.stop_reason,
            "failure_reason": result.failure_reason,
            "options": result.options,
            "started_at": result.started_at,
            "finished_at": result.finished_at,
            "duration_s": result.duration_s,
            "generated_at": generated,
            "versions": {
                "cjgrade": __version__,
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "git_sha": git_sha(),
        },
        "inputs": inputs,
        "comparisons": [_comparison(c) for c in result.comparisons],
        "rounds": [asdict(r) for r in result.rounds],
        "essays": [_essay(e) for e in result.essays],
        "judges": [asdict(j) for j in result.judges],
        **sections,
        "costs": {
            "total_usd": result.total_cost_usd,
            "n_comparisons": len(result.comparisons),
            "n_succeeded": result.n_succeeded,
            "n_failed": result.n_failed,
            "n_cache_hits": sum(line.cache_hits for line in result.costs),
            "by_model": costs,
        },
        "validation": {"artefact_sha256": None, "checksum_method": _CHECKSUM_METHOD},
    }
    doc["validation"]["artefact_sha256"] = canonical_checksum(doc)
    return doc


_CHECKSUM_METHOD = (
    "sha256 of the canonical JSON (sorted keys, separators ',' ':', UTF-8) of the artefact with "
    "validation.artefact_sha256 set to null"
)


def canonical_checksum(doc: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``doc`` with ``validation.artefact_sha256`` nulled."""
    copy = json.loads(json.dumps(doc))
    copy.setdefault("validation", {})["artefact_sha256"] = None
    text = json.dumps(copy, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_checksum(doc: dict[str, Any]) -> bool:
    return bool(doc.get("validation", {}).get("artefact_sha256") == canonical_checksum(doc))


def write_artefact(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write ``assessment_run.json`` atomically (temporary file, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ARTEFACT_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


RUNNER_ARTEFACT = re.compile(r"assessment_run\.([a-z][a-z-]*)\.json")
"""The ENG5 runner's artefact names, ``assessment_run.<mode>.json`` (its ``huleedu-1.0`` copies,
``assessment_run.<mode>.huleedu-1.0.json``, are another format and do not match)."""


def find_artefact(path: Path) -> Path:
    """The artefact file of ``path``: the file itself, or in a folder ``assessment_run.json``
    (``cjgrade run``, ``cjgrade batches export``) or else the one
    ``assessment_run.<mode>.json`` an ``eng5-np-run`` run folder holds.

    Raises
    ------
    InputError
        No artefact in the folder, or several runner artefacts (the message lists them).
    """
    if not path.is_dir():
        return path
    if (path / ARTEFACT_FILE).is_file():
        return path / ARTEFACT_FILE
    found = sorted(p for p in path.iterdir() if RUNNER_ARTEFACT.fullmatch(p.name) and p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(f"{path}: no artefact there ({ARTEFACT_FILE} or assessment_run.<mode>"
                         ".json); pass the folder `cjgrade run` or `eng5-np-run` wrote")
    names = ", ".join(p.name for p in found)
    raise InputError(f"{path}: holds several artefacts ({names}); pass the one to use")


def load_artefact(path: Path) -> dict[str, Any]:
    """Read an artefact (a file or a run folder, see :func:`find_artefact`) and check its
    checksum."""
    path = find_artefact(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no artefact there; pass the folder `cjgrade run` wrote") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON artefact ({exc})") from exc
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise InputError(f"{path}: not a cjgrade artefact (no schema_version)")
    if not verify_checksum(doc):
        raise InputError(
            f"{path}: checksum mismatch; the artefact was edited after it was written"
        )
    return doc


def load_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package."""
    text = resources.files("cjgrade.reports").joinpath(
        "schema/assessment_run.schema.json"
    ).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_artefact(doc: dict[str, Any]) -> None:
    """Validate against the shipped schema; raises InputError listing the first problems."""
    try:
        import jsonschema
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("validating artefacts needs jsonschema: pip install jsonschema") from exc
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                 for e in errors[:10]]
        raise InputError("artefact does not match its schema:\n  " + "\n  ".join(lines))
