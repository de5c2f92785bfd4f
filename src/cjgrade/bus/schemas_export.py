"""Export the JSON Schemas of the event envelopes and of every event's data to a folder.

    python -m cjgrade.bus.schemas_export docs/events          # write
    python -m cjgrade.bus.schemas_export docs/events --check  # exit 1 if out of date

One file per event type (``<event_type>.schema.json``, the data model) plus
``envelope.schema.json``. The files are generated from the pydantic models in
:mod:`cjgrade.bus.events`; a test checks that the committed ones match.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cjgrade.bus.events import EVENT_MODELS, EnvelopeModel

__all__ = ["event_schemas", "main", "write_schemas"]

_BASE_ID = "https://cjgrade.invalid/schemas/events/"


def _schema(model: Any, name: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{_BASE_ID}{name}", **schema}


def event_schemas() -> dict[str, str]:
    """File name -> JSON text (sorted keys, two-space indent, final newline)."""
    files = {"envelope.schema.json": _schema(EnvelopeModel, "envelope.schema.json")}
    for event_type, model in EVENT_MODELS.items():
        name = f"{event_type}.schema.json"
        files[name] = _schema(model, name)
    return {name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
            for name, schema in files.items()}


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into ``folder``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in event_schemas().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(folder: Path) -> list[str]:
    """Names of schema files missing from ``folder`` or different from the models."""
    return [name for name, text in event_schemas().items()
            if not (folder / name).is_file()
            or (folder / name).read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cjgrade.bus.schemas_export",
                                     description="Export the event JSON Schemas.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="only check that the folder is up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schemas(args.folder)
        if stale:
            print(f"out of date in {args.folder}: {', '.join(stale)}; run "
                  f"python -m cjgrade.bus.schemas_export {args.folder}", file=sys.stderr)
            return 1
        return 0
    for path in write_schemas(args.folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
