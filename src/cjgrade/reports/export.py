"""Exporting a finished batch: its artefact, the reports and CSV tables.

The same path for every batch in a store, embedded or distributed: the stored comparisons are
finalised again (nothing is written to the store), the artefact is built and checked against
the shipped schema, and everything else is rendered from the artefact:

- ``assessment_run.json`` (the artefact), ``report.md``, ``report.html`` and the SVG charts;
- ``essays.csv``: one row per essay (rank, theta, SE, counts, fit statistics, flags);
- ``comparisons.csv``: one row per requested comparison (outcome, judge, tokens, cost);
- ``projections.csv``: one row per student with a projected grade (the most likely grade, its
  confidence, and one ``p_<grade>`` column per grade of the scale, lowest first).

CSV is UTF-8 with a header row; list cells (flags) are joined with ``;``. A text cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so a
spreadsheet shows it instead of evaluating it as a formula (essay ids and justifications come
from users and judges); numbers are written as numbers.

With pyarrow installed (``pip install 'cjgrade[parquet]'``) each table is also written as
Parquet (``essays.parquet`` ...; typed columns, see :mod:`cjgrade.reports.parquet`); without it
the export says so (:data:`~cjgrade.reports.parquet.MISSING_NOTICE`) and writes the rest.
"""

from __future__ import annotations

import csv
import importlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cjgrade.engine.finalise import finalise_batch
from cjgrade.engine.inventory import run_mode
from cjgrade.engine.ledger import BatchLedger
from cjgrade.errors import CJGradeError, ConflictError, InputError
from cjgrade.reports import build_artefact, validate_artefact, write_artefact, write_reports
from cjgrade.reports.parquet import MISSING_NOTICE, Importer, load_pyarrow, write_parquet
from cjgrade.store import Store

__all__ = ["PARQUET_FILES", "TABLE_FILES", "BatchNotFinished", "Export", "batch_artefact",
           "table_rows", "tables", "write_export"]

TABLE_FILES = {"essays": "essays.csv", "comparisons": "comparisons.csv",
               "projections": "projections.csv"}
PARQUET_FILES = {name: file.replace(".csv", ".parquet") for name, file in TABLE_FILES.items()}
FINISHED = ("completed", "failed")

ESSAY_COLUMNS = ("essay_id", "file_name", "is_anchor", "anchor_grade", "rank", "theta", "se",
                 "comparison_count", "wins", "losses", "failed_comparisons", "a_slot_count",
                 "b_slot_count", "infit", "outfit", "injection_flags")
COMPARISON_COLUMNS = ("comparison_id", "round", "slot", "essay_a_id", "essay_b_id", "status",
                      "winner", "winner_id", "loser_id", "p_a", "confidence", "provider",
                      "model", "input_tokens", "output_tokens", "cache_read_tokens",
                      "cache_write_tokens", "cost_usd", "latency_s", "attempts", "flags",
                      "error_code", "failure_reason", "request_sha256", "created_at",
                      "completed_at", "justification")
PROJECTION_COLUMNS = ("essay_id", "file_name", "grade", "expected_grade_index", "confidence",
                      "confidence_label", "reliable")


class BatchNotFinished(ConflictError):
    """The batch has no result yet (or never will: cancelled)."""


async def batch_artefact(store: Store, batch_uuid: str) -> dict[str, Any]:
    """The artefact of a finished batch of ``store``, validated against the schema.

    Raises
    ------
    NotFound
        No such batch.
    BatchNotFinished
        The batch is still running (or was cancelled): the message says where it stands.
    CJGradeError
        The artefact does not match its schema (a bug: the message lists the problems).
    """
    ledger = BatchLedger(store)
    stored = await ledger.load_batch(batch_uuid)
    if stored.status not in FINISHED:
        if stored.status == "cancelled":
            raise BatchNotFinished(
                f"batch {batch_uuid} was cancelled: it has no result; submit it again"
            )
        raise BatchNotFinished(
            f"batch {batch_uuid} is {stored.status}, not finished: its result exists once it "
            f"completes; follow it with `cjgrade batches watch {batch_uuid}`"
        )
    result = await finalise_batch(ledger, stored, publish=False)
    inputs = stored.spec.inputs
    doc = build_artefact(result, inputs, mode=run_mode(inputs))
    try:
        validate_artefact(doc)
    except InputError as exc:
        raise CJGradeError(f"batch {batch_uuid}: {exc} (a bug: please report it)") from exc
    return doc


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        value = ";".join(str(_flag(v)) for v in value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _flag(value: Any) -> Any:
    return value.get("code", value) if isinstance(value, dict) else value


def _csv(columns: tuple[str, ...] | list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in columns])
    return out.getvalue()


def _projection_rows(doc: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    grades = list((doc.get("grades") or {}).get("grades") or [])
    rows = []
    for essay in doc["essays"]:
        projection = essay.get("grade_projection")
        if projection is None:
            continue
        for grade in projection["probabilities"]:
            if grade not in grades:
                grades.append(grade)
        row = {"essay_id": essay["essay_id"], "file_name": essay.get("file_name"),
               **{k: projection.get(k) for k in PROJECTION_COLUMNS[2:]}}
        row.update({f"p_{g}": p for g, p in projection["probabilities"].items()})
        rows.append(row)
    return [*PROJECTION_COLUMNS, *(f"p_{g}" for g in grades)], rows


def table_rows(doc: dict[str, Any]) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    """The columns and rows (raw artefact values) of each table: ``essays`` (by rank),
    ``comparisons``, ``projections``; the CSV and the Parquet files are both written from
    these."""
    essays = sorted(doc["essays"], key=lambda e: e["rank"])
    columns, projections = _projection_rows(doc)
    return {
        "essays": (list(ESSAY_COLUMNS), essays),
        "comparisons": (list(COMPARISON_COLUMNS), doc["comparisons"]),
        "projections": (columns, projections),
    }


def tables(doc: dict[str, Any]) -> dict[str, str]:
    """The CSV text of each table (``essays``, ``comparisons``, ``projections``)."""
    return {name: _csv(columns, rows) for name, (columns, rows) in table_rows(doc).items()}


@dataclass
class Export:
    """What :func:`write_export` wrote (``{kind: path}``) and what it has to tell the user
    (e.g. that Parquet needs pyarrow)."""

    paths: dict[str, Path]
    notices: list[str] = field(default_factory=list)


def write_export(doc: dict[str, Any], out_dir: Path, *,
                 importer: Importer = importlib.import_module) -> Export:
    """Validate ``doc`` and write the artefact, the reports, the CSV tables and, with pyarrow,
    the Parquet tables into ``out_dir`` (created if missing; files of the same names are
    replaced). ``importer`` imports pyarrow (see :func:`cjgrade.reports.parquet.load_pyarrow`).
    """
    validate_artefact(doc)
    paths = {"artefact": write_artefact(doc, out_dir)}
    paths.update(write_reports(doc, out_dir))
    rows = table_rows(doc)
    for name, (columns, table) in rows.items():
        path = out_dir / TABLE_FILES[name]
        tmp = path.with_suffix(".csv.tmp")
        tmp.write_text(_csv(columns, table), encoding="utf-8")
        os.replace(tmp, path)
        paths[name] = path
    pyarrow = load_pyarrow(importer)
    if pyarrow is None:
        return Export(paths, [MISSING_NOTICE])
    for name, (columns, table) in rows.items():
        paths[f"{name}_parquet"] = write_parquet(pyarrow, name, columns, table,
                                                 out_dir / PARQUET_FILES[name])
    return Export(paths)
