"""A single-file HTML report (inline CSS and SVG; nothing fetched from anywhere)."""

from __future__ import annotations

import html
from typing import Any

from cjgrade.display import printable
from cjgrade.reports.diagnostics import grades_reliable, html_banner, html_calibration, quality_line
from cjgrade.reports.markdown import ALIGNMENT_FIELDS, fmt, money
from cjgrade.reports.notices import (
    INJECTION_EXPLANATION,
    INJECTION_HEADING,
    cache_sentence,
    injection_line,
    injection_rows,
    judge_note,
)
from cjgrade.reports.runner_section import runner_sections
from cjgrade.reports.svg import grade_probability_svg, theta_svg

__all__ = ["render_html"]


def escape(value: str) -> str:
    """HTML-escaped, with control characters shown escaped (no terminal escape sequence in
    the file, nothing an XML parser rejects)."""
    return html.escape(printable(value))

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:980px;
color:#1b1b1b;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{border-bottom:1px solid #eee;padding:.25rem .5rem;text-align:right}
th:nth-child(2),td:nth-child(2){text-align:left}
.meta td,.meta th{text-align:left}.note{color:#555;font-size:.85rem}
.anchor{color:#b5541b}.warn{color:#9a3412;font-weight:600}
table.anchors td:nth-child(1),table.anchors th:nth-child(1){text-align:left}
table.anchors td:nth-child(2),table.anchors th:nth-child(2){text-align:right}
.banner{border:3px solid #b91c1c;background:#fef2f2;color:#7f1d1d;padding:.75rem 1rem;
margin:1rem 0;font-size:1rem}.banner.warning{border:2px solid #d97706;background:#fffbeb;
color:#78350f}.banner ul{margin:.5rem 0 0;padding-left:1.25rem;font-size:.9rem}
.unreliable{color:#b91c1c;text-decoration:line-through}
.charts{display:flex;flex-wrap:wrap;gap:1rem}table.calibration{margin-bottom:1rem}
table.calibration td:nth-child(1),table.calibration th:nth-child(1){text-align:left}
table.calibration td:nth-child(2),table.calibration th:nth-child(2){text-align:right}
table.injection{background:#fff;margin-top:.5rem}
table.injection td,table.injection th{text-align:left}
table.runner-pairs td,table.runner-pairs th{text-align:left}
"""


def _meta_table(doc: dict[str, Any]) -> str:
    meta, costs, rel = doc["metadata"], doc["costs"], doc["reliability"]
    judge = meta["judge"] + ("" if meta.get("judge_is_llm", True) else " (not an LLM)")
    total = "unknown" if costs["total_usd"] is None else f"${costs['total_usd']:.4f}"
    rows = [
        ("quality checks", quality_line(doc)),
        ("batch uuid", meta["batch_uuid"]),
        ("judge", judge),
        ("status", f"{meta['status']} ({meta['stop_reason']})"),
        ("grade scale", meta.get("grade_scale") or "-"),
        ("comparisons", f"{costs['n_succeeded']} succeeded, {costs['n_failed']} failed"),
        ("SSR / separation", f"{fmt(rel.get('ssr'))} / {fmt(rel.get('separation'))}"),
        ("posterior reliability", fmt(rel.get("posterior_reliability"))),
        ("position bias (A-slot log-odds)",
         f"{fmt(doc['position_bias'].get('estimate'))} ± {fmt(doc['position_bias'].get('se'))}"),
        ("total cost", total),
        *([("response cache", cache_sentence(costs))] if cache_sentence(costs) else []),
        ("text aimed at the judge", injection_line(doc)),
        ("generated", f"{meta['generated_at']} (cjgrade {meta['versions']['cjgrade']})"),
    ]
    if meta.get("failure_reason"):
        rows.insert(3, ("failure", meta["failure_reason"]))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'


def _essay_rows(doc: dict[str, Any]) -> str:
    out = []
    for e in sorted(doc["essays"], key=lambda e: e["rank"]):
        proj = e.get("grade_projection")
        grade = ""
        if proj:
            grade = escape(f"{proj['grade']} ({proj['probabilities'].get(proj['grade'], 0):.0%})")
            if not proj.get("reliable", True):
                grade = f'<span class="unreliable">{grade}</span> not reliable'
        cls = ' class="anchor"' if e["is_anchor"] else ""
        cells = [
            str(e["rank"]), escape(e["essay_id"]), escape(e.get("anchor_grade") or ""),
            fmt(e["theta"]), fmt(e["se"]), str(e["comparison_count"]), fmt(e["wins"], 1),
            fmt(e["infit"]), fmt(e["outfit"]), grade,
        ]
        out.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "".join(out)


def _grade_names(doc: dict[str, Any]) -> list[str]:
    names = doc["grades"].get("grades")
    if names:
        return [str(g) for g in names]
    seen: list[str] = []
    for e in doc["essays"]:
        for g in (e.get("grade_projection") or {}).get("probabilities", {}):
            if g not in seen:
                seen.append(g)
    return seen


def _alignment(al: dict[str, Any] | None) -> list[str]:
    if not al:
        return []
    items = "".join(f"<li>{escape(label)}: {escape(fmt(al[k]))}</li>"
                    for k, label in ALIGNMENT_FIELDS if k in al)
    rows = [
        [str(a.get("grade")), fmt(a.get("theta")), fmt(a.get("fitted_rank")),
         fmt(a.get("expected_rank")), fmt(a.get("wins"), 1), fmt(a.get("losses"), 1),
         fmt(a.get("win_rate"))]
        for a in al.get("anchors") or []
    ]
    head = ["anchor grade", "theta", "fitted rank", "expected rank", "wins", "losses",
            "win rate"]
    table = _table(head, rows, "anchors") if rows else ""
    return ["<h2>Anchor alignment</h2>", f"<ul>{items}</ul>", table]


def _costs(costs: dict[str, Any]) -> list[str]:
    rows = [
        [r["provider"], r["model"], str(r["comparisons"]), str(r.get("cache_hits", "-")),
         *(str(r[k]) for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                               "cache_write_tokens")), money(r["cost_usd"])]
        for r in costs.get("by_model") or []
    ]
    if not rows:
        return []
    head = ["provider", "model", "comparisons", "from cache", "input", "output", "cache read",
            "cache write", "cost"]
    note = cache_sentence(costs)
    return ["<h2>Tokens and cost</h2>", _table(head, rows),
            *([f'<p class="note">{escape(note)}</p>'] if note else [])]


def _injection(doc: dict[str, Any]) -> str:
    """A warning box listing the essays with text aimed at the judge ("" when none)."""
    rows = injection_rows(doc)
    if not rows:
        return ""
    return (f'<div class="banner warning injection" role="alert"><strong>'
            f"{escape(INJECTION_HEADING)}</strong><p>{escape(INJECTION_EXPLANATION)}</p>"
            f'{_table(["essay", "file", "found", "phrase"], rows, "injection")}</div>')


def _runner(doc: dict[str, Any]) -> list[str]:
    """The ENG5 runner's sections (none for an artefact without ``runner``)."""
    parts = []
    for section in runner_sections(doc):
        parts.append(f"<h2>{escape(section.heading)}</h2>")
        parts += [f'<p class="warn">{escape(w)}</p>' for w in section.warnings]
        body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>"
                       for k, v in section.items)
        parts.append(f'<table class="meta runner">{body}</table>')
        if section.table is not None:
            parts.append(_table(*section.table, "runner-pairs"))
    return parts


def _table(head: list[str], rows: list[list[str]], css_class: str = "") -> str:
    """An HTML table; every cell is escaped here."""
    cls = f' class="{css_class}"' if css_class else ""
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table{cls}><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def render_html(doc: dict[str, Any]) -> str:
    """The whole report as one HTML document."""
    meta = doc["metadata"]
    title = escape(meta.get("label") or meta["batch_uuid"])
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>cjgrade: {title}</title><style>{_CSS}</style></head><body>",
        f"<h1>Assessment run: {title}</h1>",
        html_banner(doc),
        _injection(doc),
    ]
    note = judge_note(meta)
    if note is not None:
        parts.append(f'<p class="warn">The judge of this run, {escape(meta["judge"])}, is not a '
                     f"language model: {escape(note)}.</p>")
    parts.append(_meta_table(doc))
    parts.extend(_runner(doc))
    parts.append("<h2>Scale</h2>")
    parts.append(theta_svg(doc["essays"]))
    parts.append(
        "<table><thead><tr><th>rank</th><th>essay</th><th>anchor grade</th><th>theta</th>"
        "<th>SE</th><th>comparisons</th><th>wins</th><th>infit</th><th>outfit</th>"
        f"<th>projected grade</th></tr></thead><tbody>{_essay_rows(doc)}</tbody></table>"
    )
    parts.append("<h2>Grades</h2>")
    if doc["grades"].get("available"):
        if not grades_reliable(doc):
            parts.append('<p class="warn">Not reliable: the result is degenerate (see the top '
                         "of this report). The grades below are shown for diagnosis only.</p>")
        students = [e for e in doc["essays"] if not e["is_anchor"]]
        parts.append(grade_probability_svg(students, _grade_names(doc)))
        loo = doc["grades"].get("leave_one_anchor_out")
        if loo:
            parts.append(
                f'<p class="note">Leave-one-anchor-out check: exact {fmt(loo.get("exact"))}, '
                f'within one grade {fmt(loo.get("within_one"))} ({loo.get("n")} anchors).</p>'
            )
    else:
        parts.append(f"<p>Not projected: {escape(doc['grades'].get('reason') or '-')}.</p>")
    parts.extend(_alignment(doc.get("alignment")))
    parts.extend(html_calibration(doc, _table))
    parts.extend(_costs(doc["costs"]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
