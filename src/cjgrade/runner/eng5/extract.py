"""R5, ``--auto-extract-eng5-db``: export a completed batch's stored rows beside its artefact.

Files (all under ``<run_dir>/db_extract/``, named with the batch uuid):

* ``cj_results_<uuid>.json``: ``batch_info``, ``comparisons`` (justifications included),
  ``essays`` (final theta, SE, comparison and win counts), ``round_fits`` (theta and SE per
  round, reliability, stop reason), ``grade_projections`` (full distributions);
* ``comparisons_<uuid>.csv``, ``essays_<uuid>.csv``, ``round_fits_<uuid>.csv``,
  ``grade_projections_<uuid>.csv``: the same rows as CSV (nested values as JSON text).

The extraction reads the store after the batch has completed; when it fails the batch still
succeeded: :func:`extract_for_artefact` returns the ``validation.post_run.eng5_db_extract``
record with ``status: failed`` and the error, and the runner exits with
:data:`exit_codes.EXTRACTION_FAILED`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cjgrade.errors import CJGradeError, StorageError

__all__ = ["EXTRACT_DIR", "extract_batch", "extract_for_artefact"]

EXTRACT_DIR = "db_extract"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


async def _read(target: Any, batch_uuid: str) -> dict[str, Any]:
    from cjgrade.store import open_store
    from cjgrade.store.batches import list_batch_essays, require_batch
    from cjgrade.store.comparisons import list_comparisons
    from cjgrade.store.results import list_grade_projections, list_round_fits

    store = await open_store(target, migrate=False)
    try:
        async with store.transaction() as session:
            batch = await require_batch(session, batch_uuid)
            comparisons = await list_comparisons(session, batch_uuid)
            essays = await list_batch_essays(session, batch_uuid)
            fits = await list_round_fits(session, batch_uuid)
            projections = await list_grade_projections(session, batch_uuid)
    finally:
        await store.close()
    if batch.status != "completed":
        raise StorageError(f"batch {batch_uuid} is {batch.status}, not completed: nothing to "
                           "extract yet")
    return {
        "batch_info": {"batch_uuid": batch_uuid, "label": batch.label,
                       "status": batch.status, "assignment_id": batch.assignment_id,
                       "grade_scale": batch.grade_scale},
        "comparisons": [_jsonable(asdict(c)) for c in comparisons],
        "essays": [_jsonable({k: v for k, v in asdict(e).items() if k != "content_id"})
                   for e in essays],
        "round_fits": [_jsonable(asdict(f)) for f in fits],
        "grade_projections": [_jsonable(asdict(p)) for p in projections],
    }


def _csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if not rows:
        return ""
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list)
                         else v for k, v in row.items()})
    return out.getvalue()


def extract_batch(target: Any, batch_uuid: str, run_dir: Path) -> list[Path]:
    """Export the batch's rows to ``run_dir/db_extract/``; returns the files written.

    Raises
    ------
    StorageError
        The store cannot be read, or the batch has not completed.
    """
    data = asyncio.run(_read(target, batch_uuid))
    folder = run_dir / EXTRACT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"cj_results_{batch_uuid}.json"]
    paths[0].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for key in ("comparisons", "essays", "round_fits", "grade_projections"):
        path = folder / f"{key}_{batch_uuid}.csv"
        path.write_text(_csv_text(data[key]), encoding="utf-8")
        paths.append(path)
    return paths


def extract_for_artefact(target: Any, batch_uuid: str, run_dir: Path) -> dict[str, Any]:
    """Run the extraction and return ``validation.post_run.eng5_db_extract`` (never raises
    for a failed extraction: the record says ``failed`` and why)."""
    started = time.monotonic()
    record: dict[str, Any] = {"batch_uuid": batch_uuid, "batch_completed": True,
                              "output_format": "json+csv",
                              "output_dir": str(run_dir / EXTRACT_DIR)}
    try:
        paths = extract_batch(target, batch_uuid, run_dir)
    except (CJGradeError, OSError) as exc:
        record.update(status="failed", files=[], error=str(exc))
    else:
        record.update(status="succeeded", error=None,
                      files=[p.relative_to(run_dir).as_posix() for p in paths])
    record["duration_seconds"] = round(time.monotonic() - started, 3)
    return record
