"""Parquet copies of the export tables, when pyarrow is installed (``pip install
'cjgrade[parquet]'``).

The rows are the CSV's (:func:`cjgrade.reports.export.table_rows`), the cells raw (no
spreadsheet formula guard: Parquet cells are data, never evaluated). Each column has the type
the artefact's JSON Schema gives the field it comes from: ``integer`` -> int64, ``number`` ->
float64, ``boolean`` -> bool, ``string`` (or an enum of strings) -> string, a list ->
list<string> (an injection flag becomes its code, as in the CSV); a null stays a null. The
``p_<grade>`` probability columns of ``projections`` are float64.

Without pyarrow nothing is written and :data:`MISSING_NOTICE` says how to get it; the rest of
the export does not depend on it (the wheel installs without extras).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from cjgrade.reports.artefact import load_schema

__all__ = ["MISSING_NOTICE", "Importer", "column_types", "load_pyarrow", "write_parquet"]

Importer = Callable[[str], ModuleType]
MISSING_NOTICE = (
    "Parquet files not written: pyarrow is not installed; install it with "
    "`pip install 'cjgrade[parquet]'` and export again (the CSV files hold the same tables)"
)

_SCALARS = {"integer": "int64", "number": "float64", "boolean": "bool_", "string": "string"}


def load_pyarrow(importer: Importer = importlib.import_module) -> tuple[Any, Any] | None:
    """``(pyarrow, pyarrow.parquet)``, or None when pyarrow cannot be imported.

    ``importer`` imports a module by name (default :func:`importlib.import_module`); a test
    passes one that raises ImportError to take the not-installed path.
    """
    try:
        return importer("pyarrow"), importer("pyarrow.parquet")
    except ImportError:
        return None


def _field_kind(prop: dict[str, Any]) -> str:
    """The Parquet kind of a field of the artefact schema: int64, float64, bool_, string, list."""
    types = prop.get("type")
    if types is None and "enum" in prop:
        values = {type(v) for v in prop["enum"] if v is not None}
        types = ["string"] if values <= {str} else None
    names = [types] if isinstance(types, str) else [t for t in types or [] if t != "null"]
    if names == ["array"]:
        return "list"
    if len(names) == 1 and names[0] in _SCALARS:
        return _SCALARS[names[0]]
    raise ValueError(f"no Parquet type for schema field {prop!r}")


def column_types(table: str, columns: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The kind of every column of an export table, from the artefact schema."""
    props = load_schema()["properties"]
    essay = props["essays"]["items"]["properties"]
    sources = {
        "essays": essay,
        "comparisons": props["comparisons"]["items"]["properties"],
        "projections": {**essay, **essay["grade_projection"]["properties"]},
    }[table]
    kinds = {}
    for column in columns:
        if table == "projections" and column.startswith("p_"):
            kinds[column] = "float64"
        else:
            kinds[column] = _field_kind(sources[column])
    return kinds


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "list":
        return [str(v.get("code", v) if isinstance(v, dict) else v) for v in value]
    if kind == "float64":
        return float(value)
    return value


def write_parquet(pyarrow: tuple[Any, Any], table: str, columns: list[str] | tuple[str, ...],
                  rows: list[dict[str, Any]], path: Path) -> Path:
    """Write one table to ``path`` (through a temporary file and a rename)."""
    pa, pq = pyarrow
    kinds = column_types(table, columns)
    fields = [pa.field(c, pa.list_(pa.string()) if kinds[c] == "list" else getattr(pa, kinds[c])())
              for c in columns]
    arrays = [pa.array([_cell(row.get(c), kinds[c]) for row in rows], type=f.type)
              for c, f in zip(columns, fields, strict=True)]
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), tmp)
    os.replace(tmp, path)
    return path
