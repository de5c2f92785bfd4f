"""``--artefact-format huleedu-1.0``: the original runner's artefact shape, for downstream
scripts written against it (``llm_comparisons``, ``bt_summary``, ``grade_projections``,
``costs.token_counts``), computed from the runner artefact (a pure transformation).

The original's defects are fixed, not copied (see the schema's description): typed nulls,
every mode in ``runner_mode``, a real commit or null as ``git_sha``, real per-essay standard
errors and comparison counts, full grade distributions, unknown prices as null, and one essay
id everywhere. Texts are not copied into the artefact (``content`` is null): the checksum
identifies them.
"""

from __future__ import annotations

import hashlib
import json
import platform
import uuid
from importlib import resources
from typing import Any

from cjgrade.runner.eng5.artefact import validate_against

__all__ = ["HULEEDU_SCHEMA_FILE", "HULEEDU_SCHEMA_VERSION", "load_huleedu_schema",
           "to_huleedu", "validate_huleedu"]

HULEEDU_SCHEMA_FILE = "huleedu_assessment_run.schema.json"
HULEEDU_SCHEMA_VERSION = "1.0.1"
"""1.0 shape; the patch level marks the fixed defects."""


def load_huleedu_schema() -> dict[str, Any]:
    text = resources.files("cjgrade.runner.eng5").joinpath(
        f"schema/{HULEEDU_SCHEMA_FILE}").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_huleedu(doc: dict[str, Any]) -> None:
    validate_against(doc, load_huleedu_schema(), "the huleedu-1.0 artefact")


def _blob(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {"source_path": entry["source_path"], "checksum": entry["sha256"], "content": None}


def _comparisons(doc: dict[str, Any]) -> list[dict[str, Any]]:
    batch = uuid.UUID(doc["metadata"]["batch_uuid"])
    out = []
    for seq, c in enumerate(doc["comparisons"], start=1):
        out.append({
            "sequence": seq,
            "correlation_id": str(uuid.uuid5(batch, str(c["comparison_id"]))),
            "request_id": str(c["comparison_id"]),
            "essay_a_id": c["essay_a_id"], "essay_b_id": c["essay_b_id"],
            "winner_id": c["winner_id"], "loser_id": c["loser_id"],
            "prompt_hash": c["request_sha256"], "provider": c["provider"], "model": c["model"],
            "tokens_prompt": _tokens_in(c), "tokens_completion": c["output_tokens"],
            "cost_usd": c["cost_usd"], "started_at": c["created_at"],
            "completed_at": c["completed_at"], "status": c["status"],
            "confidence": c["confidence"], "justification": c["justification"],
            "failure_reason": c["failure_reason"], "error_code": c["error_code"],
        })
    return out


def _tokens_in(c: dict[str, Any]) -> int | None:
    parts = [c.get("input_tokens"), c.get("cache_read_tokens"), c.get("cache_write_tokens")]
    if parts[0] is None:
        return None
    return sum(p or 0 for p in parts)


def to_huleedu(doc: dict[str, Any]) -> dict[str, Any]:
    """The huleedu-1.0 document of a runner artefact (checksum included)."""
    meta, runner, inputs = doc["metadata"], doc["runner"], doc["inputs"]
    scale = meta["grade_scale"]
    essays = doc["essays"]
    out: dict[str, Any] = {
        "schema_version": HULEEDU_SCHEMA_VERSION,
        "metadata": {
            "assignment_id": meta["assignment_id"], "course_id": runner["course_id"],
            "grade_scale": scale, "runner_version": runner["runner_version"],
            "git_sha": meta["git_sha"], "generated_at": meta["generated_at"],
            "runner_mode": runner["mode"], "batch_uuid": meta["batch_uuid"],
            "batch_id": runner["batch_label"], "course_code": runner["course_code"],
            "llm_config_overrides": runner["judge"],
        },
        "inputs": {
            "instructions": _blob(inputs.get("instructions")),
            "prompt_reference": _blob(inputs.get("prompt") or inputs.get("instructions")),
            "anchors": [{"anchor_id": a["essay_id"], "file_name": a["file_name"],
                         "grade": a["grade"], "source_path": a["source_path"],
                         "checksum": a["sha256"]} for a in inputs.get("anchors", [])],
            "students": [{"essay_id": s["essay_id"], "file_name": s["file_name"],
                          "source_path": s["source_path"], "checksum": s["sha256"]}
                         for s in inputs.get("students", [])],
        },
        "llm_comparisons": _comparisons(doc),
        "bt_summary": [{
            "essay_id": e["essay_id"], "theta": e["theta"], "standard_error": e["se"],
            "rank": e["rank"], "comparison_count": e["comparison_count"],
            "is_anchor": e["is_anchor"], "anchor_grade": e["anchor_grade"],
            "grade_projection": (e["grade_projection"] or {}).get("grade"),
        } for e in essays],
        "grade_projections": [{
            "essay_id": e["essay_id"], "grade_scale": scale,
            "grade": e["grade_projection"]["grade"],
            "probabilities": e["grade_projection"]["probabilities"],
            "primary_anchor_id": None, "anchor_alignment": None,
        } for e in essays if e["grade_projection"] is not None and scale is not None],
        "costs": {
            "total_usd": doc["costs"]["total_usd"],
            "token_counts": [{
                "provider": line["provider"], "model": line["model"],
                "prompt_tokens": line["input_tokens"] + line["cache_read_tokens"]
                + line["cache_write_tokens"],
                "completion_tokens": line["output_tokens"], "usd": line["cost_usd"],
            } for line in doc["costs"]["by_model"]],
        },
        "validation": {
            "artefact_checksum": "",
            "manifest": doc["validation"]["manifest"],
            "cli_environment": {"python": platform.python_version(),
                                "os": platform.platform()},
            "runner_status": doc["validation"]["runner_status"],
            "post_run": doc["validation"]["post_run"],
        },
    }
    out["validation"]["artefact_checksum"] = _checksum(out)
    return out


def _checksum(doc: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON with ``validation.artefact_checksum`` set to null."""
    copy = json.loads(json.dumps(doc))
    copy["validation"]["artefact_checksum"] = None
    text = json.dumps(copy, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
