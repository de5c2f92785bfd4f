"""R5, ``--auto-extract-eng5-db``: export a completed batch's rows beside its artefact.

One shape for every path: the tables are built from the batch's artefact
(:mod:`cjgrade.reports.artefact`, computed from the stored comparisons when the batch was
finalised). An embedded execute passes the artefact it has just built; a cluster execute the
one it fetched through the API (``GET /v1/batches/{uuid}/artefact``), so the runner needs an
API token, never database credentials.

Files (all under ``<run_dir>/db_extract/``, named with the batch uuid):

* ``cj_results_<uuid>.json``: ``batch_info``, ``comparisons`` (justifications, tokens, cost,
  failures), ``essays`` (final theta, SE, rank, comparison, win and slot counts, fit
  statistics), ``rounds`` (per round: cumulative comparisons, SSR, reliability, largest theta
  change, the stopping decision), ``grade_projections`` (full distributions);
* ``comparisons_<uuid>.csv``, ``essays_<uuid>.csv``, ``rounds_<uuid>.csv``,
  ``grade_projections_<uuid>.csv``: the same rows as CSV (nested values as JSON text).

The artefact holds no per-round theta or SE of each essay (only the final ones and each
round's summary), so neither does the extract.

When the extraction fails the batch still succeeded: :func:`extract_for_artefact` returns the
``validation.post_run.eng5_db_extract`` record with ``status: failed`` and the error, and the
runner exits with :data:`exit_codes.EXTRACTION_FAILED`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cjgrade.errors import CJGradeError, StorageError

__all__ = ["EXTRACT_DIR", "TABLES", "extract_batch", "extract_for_artefact",
           "extraction_tables"]

EXTRACT_DIR = "db_extract"
TABLES = ("comparisons", "essays", "rounds", "grade_projections")
"""The tables written as CSV, in this order."""

_BATCH_INFO = ("batch_uuid", "label", "status", "stop_reason", "assignment_id", "grade_scale",
               "judge", "mode", "started_at", "finished_at", "duration_s")


def extraction_tables(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The extract of a completed batch's artefact ``doc``: ``batch_info`` and the rows of
    :data:`TABLES`.

    Raises
    ------
    StorageError
        The batch has not completed, or ``doc`` lacks a section the extract needs.
    """
    try:
        meta = doc["metadata"]
        if meta["status"] != "completed":
            raise StorageError(f"batch {meta['batch_uuid']} is {meta['status']}, not "
                               "completed: nothing to extract")
        essays = [{k: v for k, v in e.items() if k != "grade_projection"}
                  for e in doc["essays"]]
        projections = [
            {"essay_id": e["essay_id"], "grade_scale": meta["grade_scale"],
             **e["grade_projection"]}
            for e in doc["essays"] if e.get("grade_projection")]
        return {
            "batch_info": {key: meta.get(key) for key in _BATCH_INFO},
            "comparisons": [dict(c) for c in doc["comparisons"]],
            "essays": essays,
            "rounds": [dict(r) for r in doc["rounds"]],
            "grade_projections": projections,
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise StorageError(f"the batch artefact lacks what the extract needs ({exc!r}); it "
                           "does not match the artefact schema") from exc


def _csv_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns: list[str] = []
    for row in rows:  # every key of every row (a failed comparison has no verdict fields)
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list)
                         else v for k, v in row.items()})
    return out.getvalue()


def extract_batch(doc: Mapping[str, Any], run_dir: Path) -> list[Path]:
    """Write the extract of the artefact ``doc`` to ``run_dir/db_extract/``; returns the
    files written.

    Raises
    ------
    StorageError
        The batch has not completed, or the artefact is incomplete.
    OSError
        A file cannot be written.
    """
    data = extraction_tables(doc)
    batch_uuid = data["batch_info"]["batch_uuid"]
    folder = run_dir / EXTRACT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"cj_results_{batch_uuid}.json"]
    paths[0].write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                        encoding="utf-8")
    for key in TABLES:
        path = folder / f"{key}_{batch_uuid}.csv"
        path.write_text(_csv_text(data[key]), encoding="utf-8")
        paths.append(path)
    return paths


def extract_for_artefact(doc: Mapping[str, Any], run_dir: Path, *, source: str
                         ) -> dict[str, Any]:
    """Run the extraction and return ``validation.post_run.eng5_db_extract`` (never raises
    for a failed extraction: the record says ``failed`` and why). ``source`` says where the
    artefact came from (recorded)."""
    started = time.monotonic()
    record: dict[str, Any] = {"batch_uuid": doc.get("metadata", {}).get("batch_uuid"),
                              "batch_completed": True, "source": source,
                              "output_format": "json+csv",
                              "output_dir": str(run_dir / EXTRACT_DIR)}
    try:
        paths = extract_batch(doc, run_dir)
    except (CJGradeError, OSError, ValueError) as exc:
        record.update(status="failed", files=[], error=str(exc))
    else:
        record.update(status="succeeded", error=None,
                      files=[p.relative_to(run_dir).as_posix() for p in paths])
    record["duration_seconds"] = round(time.monotonic() - started, 3)
    return record
