"""The export's Parquet tables: typed columns read back with pyarrow equal the CSV and the
artefact; without pyarrow (an importer that fails) the export says so and writes the rest."""

from __future__ import annotations

import copy
import csv
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cjgrade.reports.export import PARQUET_FILES, TABLE_FILES, table_rows, write_export
from cjgrade.reports.parquet import MISSING_NOTICE, column_types, load_pyarrow

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:  # the not-installed tests below still run
    pa = pq = None
needs_pyarrow = pytest.mark.skipif(pa is None, reason="the parquet extra is not installed")


def no_pyarrow(name: str) -> ModuleType:
    """An importer for an installation without the parquet extra."""
    if name.split(".")[0] == "pyarrow":
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return importlib.import_module(name)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def as_csv(value: Any) -> str:
    """What the CSV writer makes of a raw cell (before the formula guard)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def unguard(cell: str) -> str:
    return cell[1:] if cell[:2] in ("'=", "'+", "'-", "'@", "'\t", "'\r") else cell


def type_name(arrow_type: Any) -> str:
    if pa.types.is_list(arrow_type):
        return f"list<{arrow_type.value_type}>"
    return str(arrow_type)


EXPECTED_TYPES = {
    "essays": {"essay_id": "string", "file_name": "string", "is_anchor": "bool",
               "anchor_grade": "string", "rank": "int64", "theta": "double", "se": "double",
               "comparison_count": "int64", "wins": "double", "losses": "double",
               "failed_comparisons": "int64", "a_slot_count": "int64",
               "b_slot_count": "int64", "infit": "double", "outfit": "double",
               "injection_flags": "list<string>"},
    "comparisons": {"comparison_id": "int64", "round": "int64", "status": "string",
                    "winner": "string", "p_a": "double", "confidence": "double",
                    "input_tokens": "int64", "cost_usd": "double", "latency_s": "double",
                    "attempts": "int64", "flags": "list<string>",
                    "justification": "string", "created_at": "string"},
    "projections": {"essay_id": "string", "grade": "string", "expected_grade_index": "double",
                    "confidence": "double", "confidence_label": "string", "reliable": "bool"},
}


@needs_pyarrow
@pytest.mark.parametrize("fixture", ["artefact", "sample_artefact"])
def test_parquet_tables_equal_the_csv_and_the_artefact(
        fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Every table is written twice; Parquet keeps types (ints, floats, booleans, lists) and
    nulls (a failed comparison has no p_a, no winner, no tokens), the CSV the same values."""
    doc = request.getfixturevalue(fixture)
    export = write_export(doc, tmp_path)
    assert export.notices == []
    rows = table_rows(doc)
    for name, (columns, raw) in rows.items():
        table = pq.read_table(export.paths[f"{name}_parquet"])
        assert export.paths[f"{name}_parquet"] == tmp_path / PARQUET_FILES[name]
        assert table.column_names == columns
        types = {field.name: type_name(field.type) for field in table.schema}
        for column, expected in EXPECTED_TYPES[name].items():
            assert types[column] == expected, (name, column)
        if name == "projections":
            assert all(types[c] == "double" for c in columns if c.startswith("p_"))
        parquet = table.to_pylist()
        csv_rows = read_csv(tmp_path / TABLE_FILES[name])
        assert len(parquet) == len(csv_rows) == len(raw)
        for got, text, source in zip(parquet, csv_rows, raw, strict=True):
            for column in columns:
                value = got[column]
                if isinstance(value, float):  # "3" and 3.0 are the same number
                    assert float(text[column]) == value, (name, column)
                else:
                    assert unguard(text[column]) == as_csv(value), (name, column)
                if column.startswith("p_"):
                    assert value == source.get(column)
                elif name != "projections":
                    original = source.get(column)
                    if isinstance(original, list):
                        original = [v["code"] if isinstance(v, dict) else v for v in original]
                    assert value == original, (name, column)
    # the artefact's own values, nulls as nulls
    comparisons = pq.read_table(tmp_path / "comparisons.parquet").to_pylist()
    assert comparisons == [{c: x[c] for c in rows["comparisons"][0]} for x in doc["comparisons"]]
    failed = [c for c in comparisons if c["status"] == "failed"]
    if fixture == "artefact":
        assert failed and failed[0]["p_a"] is None and failed[0]["winner"] is None
        assert failed[0]["error_code"] == "JudgeOutputInvalid"
        flagged = [e for e in pq.read_table(tmp_path / "essays.parquet").to_pylist()
                   if e["injection_flags"]]
        assert flagged and all(isinstance(f, str) for f in flagged[0]["injection_flags"])
    else:
        projections = pq.read_table(tmp_path / "projections.parquet").to_pylist()
        assert len(projections) == sum(1 for e in doc["essays"] if e["grade_projection"])
        by_id = {e["essay_id"]: e["grade_projection"] for e in doc["essays"]}
        for row in projections:
            projection = by_id[row["essay_id"]]
            assert row["grade"] == projection["grade"]
            assert row["confidence"] == projection["confidence"]
            for grade, p in projection["probabilities"].items():
                assert row[f"p_{grade}"] == p


@needs_pyarrow
def test_parquet_cells_are_raw_where_the_csv_guards_formulas(
        artefact: dict[str, Any], tmp_path: Path) -> None:
    """A file name that a spreadsheet would run as a formula gets a ``'`` in the CSV only."""
    doc = copy.deepcopy(artefact)
    doc["essays"][0]["file_name"] = "=HYPERLINK(\"http://x\")"
    write_export(doc, tmp_path)
    rank = doc["essays"][0]["rank"]
    csv_row = next(r for r in read_csv(tmp_path / "essays.csv") if r["rank"] == str(rank))
    parquet_row = next(r for r in pq.read_table(tmp_path / "essays.parquet").to_pylist()
                       if r["rank"] == rank)
    assert csv_row["file_name"] == "'=HYPERLINK(\"http://x\")"
    assert parquet_row["file_name"] == "=HYPERLINK(\"http://x\")"


def test_without_pyarrow_the_export_says_so_and_writes_the_rest(
        artefact: dict[str, Any], tmp_path: Path) -> None:
    export = write_export(artefact, tmp_path, importer=no_pyarrow)
    assert export.notices == [MISSING_NOTICE]
    assert "pip install 'cjgrade[parquet]'" in MISSING_NOTICE
    assert not list(tmp_path.glob("*.parquet")) and not list(tmp_path.glob("*.tmp"))
    for name, file in TABLE_FILES.items():
        assert export.paths[name] == tmp_path / file and (tmp_path / file).stat().st_size > 0
    assert not any(kind.endswith("_parquet") for kind in export.paths)
    assert (tmp_path / "assessment_run.json").exists() and (tmp_path / "report.html").exists()


@needs_pyarrow
def test_load_pyarrow_uses_the_importer() -> None:
    assert load_pyarrow(no_pyarrow) is None
    loaded = load_pyarrow()
    assert loaded is not None and loaded[0] is pa and loaded[1] is pq


@needs_pyarrow
def test_column_types_come_from_the_artefact_schema(sample_artefact: dict[str, Any]) -> None:
    """Every column of every table has a type, read from the shipped JSON Schema."""
    for name, (columns, _rows) in table_rows(sample_artefact).items():
        kinds = column_types(name, columns)
        assert set(kinds) == set(columns)
        assert set(kinds.values()) <= {"int64", "float64", "bool_", "string", "list"}
    assert column_types("comparisons", ["winner", "status", "slot"]) == {
        "winner": "string", "status": "string", "slot": "int64"}
