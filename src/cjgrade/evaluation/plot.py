"""The budget study as an inline SVG: agreement and reliability against comparisons per essay.

One panel per judge; x is the budget per essay (comparisons / essays of the batch; each essay
takes part in twice as many), y runs from 0 to 1 (a negative figure is drawn at 0; its tooltip
gives the value). Lines: QWK of projected grades, Spearman of
theta, reported reliability and truth-based reliability (mean over sets, or one set), with the
human-human QWK as a dashed reference when the data have it. No plotting library.
"""

from __future__ import annotations

from html import escape
from typing import Any

from cjgrade.reports.svg import PALETTE, linear_scale

__all__ = ["budget_svg"]

SERIES = (
    ("qwk", "QWK of projected grades"),
    ("spearman", "Spearman of theta"),
    ("reliability", "reliability reported"),
    ("truth_reliability", "reliability truth-based"),
)


def _points(rows: list[dict[str, Any]], name: str) -> list[tuple[float, float]]:
    return [(float(r["budget_per_essay"]), float(r["figures"][name]["mean"]))
            for r in rows if r["figures"][name]["mean"] is not None]


def budget_svg(doc: dict[str, Any], *, essay_set: str, width: int = 420,
               height: int = 300) -> str:
    """Panels side by side, one per judge, for the rows of ``essay_set`` (or ``overall``)
    with a fixed budget; empty string when the document has no budget study."""
    by_judge: dict[str, list[dict[str, Any]]] = {}
    for row in doc["rows"]:
        if row["budget_per_essay"] is not None and row["essay_set"] == essay_set:
            by_judge.setdefault(row["judge"], []).append(row)
    if not by_judge:
        return ""
    budgets = sorted({float(r["budget_per_essay"]) for rs in by_judge.values() for r in rs})
    left, right, top, bottom = 44, width - 12, 34, height - 96
    x = linear_scale(min(budgets), max(budgets), left, right)
    to_y = linear_scale(0.0, 1.0, bottom, top)

    def y(v: float) -> float:  # a negative figure (a random judge) sits on the axis
        return to_y(min(1.0, max(0.0, v)))

    total = width * len(by_judge)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="{height}" '
           f'role="img" aria-label="Budget study: agreement and reliability against '
           f'comparisons per essay, set {escape(essay_set)}">']
    for k, (judge, rows) in enumerate(by_judge.items()):
        rows = sorted(rows, key=lambda r: float(r["budget_per_essay"]))
        out.append(f'<g transform="translate({k * width},0)">')
        out.append(f'<text x="{left}" y="16" font-size="12">{escape(judge)} — set '
                   f'{escape(essay_set)}</text>')
        out.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>'
                   f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333"/>')
        for v in (0.0, 0.25, 0.5, 0.75, 1.0):
            out.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" '
                       f'text-anchor="end">{v:.2f}</text>'
                       f'<line x1="{left}" y1="{y(v):.1f}" x2="{right}" y2="{y(v):.1f}" '
                       'stroke="#eee"/>')
        for b in budgets:
            out.append(f'<text x="{x(b):.1f}" y="{bottom + 14}" font-size="10" '
                       f'text-anchor="middle">{b:g}</text>')
        out.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 28}" font-size="11" '
                   'text-anchor="middle">comparisons per essay (budget)</text>')
        human = [r["figures"]["human_qwk"]["mean"] for r in rows
                 if r["figures"]["human_qwk"]["mean"] is not None]
        if human:
            level = sum(human) / len(human)
            out.append(f'<line x1="{left}" y1="{y(level):.1f}" x2="{right}" '
                       f'y2="{y(level):.1f}" stroke="#555" stroke-dasharray="4,3">'
                       f'<title>human-human QWK {level:.3f}</title></line>')
        for i, (name, label) in enumerate(SERIES):
            colour = PALETTE[(2 * i + 6) % len(PALETTE)]
            points = _points(rows, name)
            if points:
                path = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in points)
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                           'stroke-width="2"/>')
                for px, py in points:
                    out.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="3" '
                               f'fill="{colour}"><title>{escape(label)} at {px:g}: '
                               f'{py:.3f}</title></circle>')
            lx, ly = left + (i // 2) * 180, bottom + 44 + 12 * (i % 2)
            out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
                       f'<text x="{lx + 14}" y="{ly}" font-size="10">{escape(label)}</text>')
        if human:
            out.append(f'<line x1="{left}" y1="{bottom + 74}" x2="{left + 10}" '
                       f'y2="{bottom + 74}" stroke="#555" stroke-dasharray="4,3"/>'
                       f'<text x="{left + 14}" y="{bottom + 78}" font-size="10">'
                       'human-human QWK</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
