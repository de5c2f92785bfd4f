"""Inline SVG plots for the HTML report (no external assets, no plotting library)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

__all__ = ["grade_probability_svg", "linear_scale", "theta_svg"]

ANCHOR_COLOUR = "#b5541b"
STUDENT_COLOUR = "#1f5f99"
PALETTE = (
    "#7f1d1d", "#b45309", "#ca8a04", "#65a30d", "#15803d", "#0f766e", "#1d4ed8",
    "#6d28d9", "#a21caf", "#be185d", "#475569",
)


def linear_scale(lo: float, hi: float, left: float, right: float) -> Callable[[float], float]:
    """Map ``[lo, hi]`` onto ``[left, right]`` (pixels; ``right < left`` flips an axis)."""
    span = (hi - lo) or 1.0

    def to_x(v: float) -> float:
        return left + (v - lo) / span * (right - left)

    return to_x


def theta_svg(essays: list[dict[str, Any]], *, width: int = 760) -> str:
    """Every essay's theta with a ±1.96 SE bar, highest first; anchors labelled by grade."""
    rows = sorted(essays, key=lambda e: -e["theta"])
    row_h, top, left, right = 18, 28, 190, width - 20
    height = top + row_h * len(rows) + 30
    lo = min(e["theta"] - 1.96 * e["se"] for e in rows) if rows else -1.0
    hi = max(e["theta"] + 1.96 * e["se"] for e in rows) if rows else 1.0
    x = linear_scale(lo, hi, left, right)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Ability estimates with 95% intervals">',
        f'<text x="{left}" y="16" font-size="12">theta (logits), 95% interval = '
        "theta ± 1.96 SE</text>",
    ]
    if lo < 0 < hi:
        out.append(f'<line x1="{x(0):.1f}" y1="{top - 6}" x2="{x(0):.1f}" '
                   f'y2="{height - 24}" stroke="#bbb" stroke-dasharray="3,3"/>')
    for i, e in enumerate(rows):
        y = top + i * row_h + row_h / 2
        colour = ANCHOR_COLOUR if e["is_anchor"] else STUDENT_COLOUR
        label = e["essay_id"] + (f" [{e['anchor_grade']}]" if e.get("anchor_grade") else "")
        lo_e, hi_e = e["theta"] - 1.96 * e["se"], e["theta"] + 1.96 * e["se"]
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{colour}">{escape(label)}</text>'
            f'<line x1="{x(lo_e):.1f}" y1="{y:.1f}" x2="{x(hi_e):.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="1.5"/>'
            f'<circle cx="{x(e["theta"]):.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
            f'<title>{escape(e["essay_id"])}: theta {e["theta"]:.2f}, SE {e["se"]:.2f}'
            "</title></circle>"
        )
    axis_y = height - 22
    out.append(f'<line x1="{left}" y1="{axis_y}" x2="{right}" y2="{axis_y}" stroke="#333"/>')
    for k in range(6):
        v = lo + (hi - lo) * k / 5
        out.append(f'<text x="{x(v):.1f}" y="{axis_y + 14}" font-size="10" '
                   f'text-anchor="middle">{v:.1f}</text>')
    out.append("</svg>")
    return "".join(out)


def grade_probability_svg(
    essays: list[dict[str, Any]], grades: list[str], *, width: int = 760
) -> str:
    """One stacked bar per student: the probability of each grade, lowest grade on the left."""
    rows = [e for e in sorted(essays, key=lambda e: e["rank"]) if e.get("grade_projection")]
    row_h, top, left, right = 18, 44, 190, width - 20
    height = top + row_h * len(rows) + 10
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(grades)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="Grade probabilities per student">',
    ]
    legend_x = left
    for g in grades:
        out.append(f'<rect x="{legend_x}" y="6" width="12" height="12" fill="{colours[g]}"/>'
                   f'<text x="{legend_x + 16}" y="16" font-size="11">{escape(g)}</text>')
        legend_x += 22 + 8 * len(g) + 10
    for i, e in enumerate(rows):
        y = top + i * row_h
        probs = e["grade_projection"]["probabilities"]
        out.append(f'<text x="{left - 8}" y="{y + 12}" font-size="11" text-anchor="end">'
                   f'{escape(e["essay_id"])}</text>')
        cursor = float(left)
        for g in grades:
            p = float(probs.get(g, 0.0))
            w = p * (right - left)
            if w <= 0:
                continue
            out.append(
                f'<rect x="{cursor:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 4}" '
                f'fill="{colours[g]}"><title>{escape(e["essay_id"])}: {escape(g)} '
                f"{p:.0%}</title></rect>"
            )
            if w > 26:
                out.append(f'<text x="{cursor + w / 2:.1f}" y="{y + 13}" font-size="10" '
                           f'fill="white" text-anchor="middle">{escape(g)}</text>')
            cursor += w
    out.append("</svg>")
    return "".join(out)
