"""Inline SVG charts of the diagnostics: the judge's reliability diagram and the reliability
of the scale round by round (no plotting library, no external assets)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from cjgrade.reports.svg import ANCHOR_COLOUR, STUDENT_COLOUR, linear_scale

__all__ = ["reliability_diagram_svg", "reliability_rounds_svg"]

WIDTH, HEIGHT = 380, 300
LEFT, RIGHT, TOP, BOTTOM = 48, WIDTH - 14, 44, HEIGHT - 40
LEGEND_Y = 30
GRID = "#e5e7eb"


def _frame(label: str, title: str, x_label: str, y_label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(label)}">',
        f'<text x="{LEFT}" y="16" font-size="12" font-weight="600">{escape(title)}</text>',
        f'<text x="{(LEFT + RIGHT) / 2:.0f}" y="{HEIGHT - 6}" font-size="11" '
        f'text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{(TOP + BOTTOM) / 2:.0f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(TOP + BOTTOM) / 2:.0f})">{escape(y_label)}</text>',
    ]


def _axes(x: Callable[[float], float], y: Callable[[float], float],
          x_ticks: Sequence[float], y_ticks: Sequence[float], x_fmt: str) -> list[str]:
    out = []
    for v in y_ticks:
        out.append(f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{RIGHT}" y2="{y(v):.1f}" '
                   f'stroke="{GRID}"/><text x="{LEFT - 5}" y="{y(v) + 4:.1f}" font-size="10" '
                   f'text-anchor="end">{v:.2f}</text>')
    for v in x_ticks:
        out.append(f'<line x1="{x(v):.1f}" y1="{TOP}" x2="{x(v):.1f}" y2="{BOTTOM}" '
                   f'stroke="{GRID}"/><text x="{x(v):.1f}" y="{BOTTOM + 14}" font-size="10" '
                   f'text-anchor="middle">{format(v, x_fmt)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{RIGHT - LEFT}" height="{BOTTOM - TOP}" '
               'fill="none" stroke="#333"/>')
    return out


def _legend(items: Sequence[tuple[str, str, str]]) -> list[str]:
    """One row above the plot, ``(kind, colour, text)`` each; kind ``dot``, ``ring``,
    ``square`` or ``dash``."""
    out, x0, yy = [], float(LEFT), float(LEGEND_Y)
    for kind, colour, text in items:
        if kind == "dot":
            mark = f'<circle cx="{x0 + 4:.1f}" cy="{yy:.1f}" r="3.5" fill="{colour}"/>'
        elif kind == "ring":
            mark = (f'<circle cx="{x0 + 4:.1f}" cy="{yy:.1f}" r="3" fill="white" '
                    f'stroke="{colour}" stroke-width="1.5"/>')
        elif kind == "square":
            mark = (f'<rect x="{x0:.1f}" y="{yy - 4:.1f}" width="8" height="8" fill="none" '
                    f'stroke="{colour}" stroke-width="1.5"/>')
        else:
            mark = (f'<line x1="{x0 - 2:.1f}" y1="{yy:.1f}" x2="{x0 + 10:.1f}" y2="{yy:.1f}" '
                    f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="4,2"/>')
        out.append(f'{mark}<text x="{x0 + 14:.1f}" y="{yy + 4:.1f}" font-size="10">'
                   f"{escape(text)}</text>")
        x0 += 26 + 5.5 * len(text)
    return out


def _empty(out: list[str], message: str) -> str:
    out.append(f'<text x="{(LEFT + RIGHT) / 2:.0f}" y="{(TOP + BOTTOM) / 2:.0f}" '
               f'font-size="12" text-anchor="middle" fill="#555">{escape(message)}</text>')
    out.append("</svg>")
    return "".join(out)


def reliability_diagram_svg(calibration: dict[str, Any] | None) -> str:
    """Stated probability of the chosen essay (x) against how often the fitted scale agrees
    with the verdict (y), one point per non-empty bin (area ~ comparisons), with the scale's
    own expected agreement and the diagonal of a perfectly calibrated judge."""
    out = _frame("Judge reliability diagram", "Judge calibration",
                 "stated p(chosen essay is better)", "agreement with the scale")
    x = linear_scale(0.5, 1.0, LEFT, RIGHT)
    y = linear_scale(0.0, 1.0, BOTTOM, TOP)
    out += _axes(x, y, (0.5, 0.6, 0.7, 0.8, 0.9, 1.0), (0.0, 0.25, 0.5, 0.75, 1.0), ".1f")
    out.append(f'<line x1="{x(0.5):.1f}" y1="{y(0.5):.1f}" x2="{x(1.0):.1f}" y2="{y(1.0):.1f}" '
               'stroke="#888" stroke-dasharray="4,3"/>')
    cells = [c for c in (calibration or {}).get("bins") or [] if c.get("n")]
    if not cells:
        return _empty(out, "no successful comparison")
    biggest = max(c["n"] for c in cells)
    for c in cells:
        cx = x(float(c["mean_stated_p_chosen"]))
        tip = (f"{c['label']}: {c['n']} comparisons, stated {c['mean_stated_p_chosen']:.2f}, "
               f"observed {c['observed_agreement']:.2f}, scale expects "
               f"{c['predicted_agreement']:.2f}")
        py = y(float(c["predicted_agreement"]))
        out.append(f'<rect x="{cx - 4:.1f}" y="{py - 4:.1f}" width="8" height="8" fill="none" '
                   f'stroke="{ANCHOR_COLOUR}" stroke-width="1.5"><title>{escape(tip)}</title>'
                   "</rect>")
        r = 3.0 + 6.0 * (c["n"] / biggest) ** 0.5
        out.append(f'<circle cx="{cx:.1f}" cy="{y(float(c["observed_agreement"])):.1f}" '
                   f'r="{r:.1f}" fill="{STUDENT_COLOUR}" fill-opacity="0.8">'
                   f"<title>{escape(tip)}</title></circle>")
    out += _legend((("dot", STUDENT_COLOUR, "observed"),
                    ("square", ANCHOR_COLOUR, "scale expects"),
                    ("dash", "#888", "calibrated judge")))
    out.append("</svg>")
    return "".join(out)


def _is_laplace(round_: dict[str, Any]) -> bool:
    return round_.get("reliability_method") == "laplace_empirical_bayes"


def reliability_rounds_svg(
    rounds: list[dict[str, Any]], *, target: float | None = None,
    threshold: float | None = None,
) -> str:
    """The posterior reliability (solid) and SSR (dashed; values below 0 drawn at 0) after each
    round, against the comparisons fitted, with the stopping target and the quality threshold.
    A round whose reliability is the Laplace figure (no stopping rule read it, so the sampler
    was not run; it reads low under adaptive pairing) is drawn as a ring."""
    out = _frame("Reliability round by round", "Reliability by round",
                 "successful comparisons fitted", "reliability")
    pts = [r for r in rounds if r.get("n_comparisons") is not None]
    hi = max((float(r["n_comparisons"]) for r in pts), default=1.0)
    x = linear_scale(0.0, hi or 1.0, LEFT, RIGHT)
    y = linear_scale(0.0, 1.0, BOTTOM, TOP)
    ticks = [hi * k / 4 for k in range(5)]
    out += _axes(x, y, ticks, (0.0, 0.25, 0.5, 0.75, 1.0), ".0f")
    for level, colour, name in ((target, "#15803d", "target"), (threshold, "#b91c1c",
                                                                 "degenerate below")):
        if level is not None and 0.0 < level < 1.0:
            out.append(f'<line x1="{LEFT}" y1="{y(level):.1f}" x2="{RIGHT}" y2="{y(level):.1f}" '
                       f'stroke="{colour}" stroke-dasharray="2,3"/><text x="{LEFT + 4}" '
                       f'y="{y(level) - 3:.1f}" font-size="10" '
                       f'fill="{colour}">{name} {level:g}</text>')
    if not pts:
        return _empty(out, "no round was fitted")
    for key, colour, dash in (("ssr", ANCHOR_COLOUR, ' stroke-dasharray="5,3"'),
                              ("reliability", STUDENT_COLOUR, "")):
        series = [(float(r["n_comparisons"]), min(max(float(r[key]), 0.0), 1.0), r)
                  for r in pts if r.get(key) is not None]
        if not series:
            continue
        path = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v, _ in series)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="1.5"{dash}/>')
        for n, v, r in series:
            tip = f"round {r['round']}: {int(n)} comparisons, {key} {float(r[key]):.3f}"
            laplace = key == "reliability" and _is_laplace(r)
            fill = f'fill="white" stroke="{colour}" stroke-width="1.2"' if laplace else \
                f'fill="{colour}"'
            tip += " (Laplace figure, not sampled)" if laplace else ""
            out.append(f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="2.5" {fill}>'
                       f"<title>{escape(tip)}</title></circle>")
    legend = [("dot", STUDENT_COLOUR, "posterior reliability"),
              ("dash", ANCHOR_COLOUR, "SSR (below 0 drawn at 0)")]
    if any(_is_laplace(r) for r in pts):
        legend.append(("ring", STUDENT_COLOUR, "Laplace figure (no rule read it)"))
    out += _legend(legend)
    out.append("</svg>")
    return "".join(out)
