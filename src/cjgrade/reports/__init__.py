"""Reports: the JSON artefact (with its shipped JSON Schema), a Markdown summary and a
single-file HTML report, all rendered from the artefact so they can be redone from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cjgrade.reports.artefact import (
    ARTEFACT_FILE,
    SCHEMA_VERSION,
    build_artefact,
    canonical_checksum,
    load_artefact,
    load_schema,
    validate_artefact,
    verify_checksum,
    write_artefact,
)
from cjgrade.reports.diagnostics import FIGURE_FILES, figures
from cjgrade.reports.html import render_html
from cjgrade.reports.markdown import render_markdown

__all__ = [
    "ARTEFACT_FILE",
    "SCHEMA_VERSION",
    "build_artefact",
    "canonical_checksum",
    "load_artefact",
    "load_schema",
    "render_html",
    "render_markdown",
    "validate_artefact",
    "verify_checksum",
    "write_artefact",
    "write_reports",
]


def write_reports(doc: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``report.md`` and ``report.html`` next to the artefact, and the SVG charts that
    ``report.md`` links (the HTML report inlines them); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "report.md"
    html = out_dir / "report.html"
    md.write_text(render_markdown(doc), encoding="utf-8")
    html.write_text(render_html(doc), encoding="utf-8")
    paths = {"markdown": md, "html": html}
    for key, svg in figures(doc).items():
        path = out_dir / FIGURE_FILES[key]
        path.write_text(svg + "\n", encoding="utf-8")
        paths[f"{key}_svg"] = path
    return paths
