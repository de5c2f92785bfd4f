"""A Markdown summary of an artefact (rendered from the artefact alone, so it can be redone).

Every value that came from outside (file names and essay ids, the label, grades of a user
scale, judge and provider names, failure reasons) goes through :func:`text` (control
characters escaped, HTML and Markdown inert), so a file named ``<script>`` or one carrying
terminal escape sequences is shown as its name and never rendered or executed.
"""

from __future__ import annotations

from typing import Any

from cjgrade.display import markdown_text, printable
from cjgrade.reports.diagnostics import (
    grades_reliable,
    markdown_banner,
    markdown_calibration,
    quality_line,
)
from cjgrade.reports.notices import (
    INJECTION_EXPLANATION,
    INJECTION_HEADING,
    cache_sentence,
    flagged_essays,
    injection_line,
    injection_rows,
    judge_note,
)
from cjgrade.reports.runner_section import runner_sections

__all__ = ["fmt", "render_markdown", "text"]

text = markdown_text
"""Outside text for a Markdown line or cell (see :func:`cjgrade.display.markdown_text`)."""


def _code(value: Any) -> str:
    """A value in a code span (only a backtick can break out of one); plain text otherwise."""
    shown = printable(value)
    return f"`{shown}`" if "`" not in shown else text(shown)


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table: fixed digits; ``-`` for missing; ``unknown`` is the caller's."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, list | tuple):
        if not value:
            return "none"
        return ", ".join(f"({fmt(v, digits)})" if isinstance(v, list | tuple) else
                         fmt(v, digits) for v in value)
    return str(value)


ALIGNMENT_FIELDS = (
    ("kendall_tau_b", "Kendall tau-b (anchor grade vs fitted order)"),
    ("direct_inversions", "direct inversions (a lower grade won)"),
    ("inversion_pairs", "anchor pairs out of order"),
    ("zero_win_anchors", "anchors that never won"),
    ("meets_targets", "meets the targets (tau >= 0.90, <= 1 inversion pair, no zero-win anchor "
                      "above the lowest grade)"),
    ("n_anchors", "anchors"),
)
"""The alignment figures the reports show, with their labels."""


def money(value: float | None) -> str:
    """A cost in USD, or ``unknown`` when a price is unknown (never 0)."""
    return "unknown" if value is None else f"${value:.4f}"


def top_grade(essay: dict[str, Any]) -> str:
    """``C (42%)``; ``C (42%), NOT RELIABLE`` when the result is degenerate; ``-`` if none."""
    proj = essay.get("grade_projection")
    if not proj:
        return "-"
    p = proj["probabilities"].get(proj["grade"])
    shown = text(proj["grade"]) + (f" ({p:.0%})" if p is not None else "")
    return shown if proj.get("reliable", True) else f"{shown}, NOT RELIABLE"


def _header(doc: dict[str, Any]) -> list[str]:
    meta = doc["metadata"]
    costs = doc["costs"]
    rel = doc["reliability"]
    judge = _code(meta["judge"])
    note = judge_note(meta)
    if note is not None:
        judge += f" (**not a language model**: {text(note)})"
    lines = [
        f"# Assessment run: {text(meta.get('label') or meta['batch_uuid'])}",
        "",
        *markdown_banner(doc),
        f"- quality checks: **{text(quality_line(doc))}**",
        f"- batch uuid: {_code(meta['batch_uuid'])}",
        f"- judge: {judge}",
        f"- status: **{text(meta['status'])}** ({text(meta['stop_reason'])})",
    ]
    if meta.get("failure_reason"):
        lines.append(f"- failure: {text(meta['failure_reason'])}")
    lines += [
        f"- grade scale: {text(meta.get('grade_scale') or '-')}",
        f"- comparisons: {costs['n_succeeded']} succeeded, {costs['n_failed']} failed "
        f"(of {costs['n_comparisons']} requested)",
        f"- scale separation reliability (SSR): {fmt(rel.get('ssr'))}; separation "
        f"{fmt(rel.get('separation'))}; posterior reliability "
        f"{fmt(rel.get('posterior_reliability'))}",
        f"- position bias (A-slot log-odds): {fmt(doc['position_bias'].get('estimate'))} "
        f"± {fmt(doc['position_bias'].get('se'))}",
        f"- total cost: {money(costs['total_usd'])}",
    ]
    cached = cache_sentence(costs)
    if cached:
        lines.append(f"- response cache: {cached}")
    injection = text(injection_line(doc))
    lines += [
        f"- text aimed at the judge: {f'**{injection}**' if flagged_essays(doc) else injection}",
        f"- generated: {text(meta['generated_at'])} by cjgrade "
        f"{text(meta['versions']['cjgrade'])}",
        "",
    ]
    return lines


def _injection(doc: dict[str, Any]) -> list[str]:
    rows = injection_rows(doc)
    if not rows:
        return []
    lines = [f"## {INJECTION_HEADING}", "", f"> **{INJECTION_EXPLANATION}**", "",
             "| essay | file | found | phrase |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(text(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _runner(doc: dict[str, Any]) -> list[str]:
    """The ENG5 runner's sections (none for an artefact without ``runner``)."""
    lines: list[str] = []
    for section in runner_sections(doc):
        lines += [f"## {text(section.heading)}", ""]
        lines += [f"> **{text(w)}**" for w in section.warnings]
        if section.warnings:
            lines.append("")
        lines += [f"- {text(label)}: {text(value)}" for label, value in section.items]
        lines.append("")
        if section.table is not None:
            head, rows = section.table
            lines += ["| " + " | ".join(text(h) for h in head) + " |",
                      "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in rows]
            lines.append("")
    return lines


def _essay_table(doc: dict[str, Any]) -> list[str]:
    lines = [
        "## Scale",
        "",
        "| rank | essay | anchor grade | theta | SE | comparisons | wins | infit | outfit "
        "| projected grade |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for e in sorted(doc["essays"], key=lambda e: e["rank"]):
        lines.append(
            f"| {e['rank']} | {text(e['essay_id'])} | {text(e['anchor_grade'] or '')} "
            f"| {fmt(e['theta'])} "
            f"| {fmt(e['se'])} | {e['comparison_count']} | {fmt(e['wins'], 1)} "
            f"| {fmt(e['infit'])} | {fmt(e['outfit'])} | {top_grade(e)} |"
        )
    return [*lines, ""]


def _grades(doc: dict[str, Any]) -> list[str]:
    grades = doc["grades"]
    if not grades.get("available"):
        reason = text(grades.get("reason") or "not requested")
        return ["## Grades", "", f"Not projected: {reason}.", ""]
    lines = ["## Grades", ""]
    if not grades_reliable(doc):
        lines += ["**Not reliable: the result is degenerate (see the top of this report). The "
                  "grades below are shown for diagnosis only.**", ""]
    loo = grades.get("leave_one_anchor_out")
    if loo:
        lines.append(
            f"Leave-one-anchor-out check: exact {fmt(loo.get('exact'))}, within one grade "
            f"{fmt(loo.get('within_one'))} over {loo.get('n')} anchors."
        )
        lines.append("")
    return lines


def _alignment(doc: dict[str, Any]) -> list[str]:
    al = doc.get("alignment")
    if not al:
        return []
    lines = ["## Anchor alignment", ""]
    for key, label in ALIGNMENT_FIELDS:
        if key in al:
            lines.append(f"- {label}: {text(fmt(al[key]))}")
    return [*lines, ""]


def _costs(doc: dict[str, Any]) -> list[str]:
    rows = doc["costs"]["by_model"]
    if not rows:
        return []
    lines = [
        "## Tokens and cost",
        "",
        "| provider | model | comparisons | from cache | input | output | cache read "
        "| cache write | cost |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {text(r['provider'])} | {text(r['model'])} | {r['comparisons']} "
            f"| {r.get('cache_hits', '-')} | {r['input_tokens']} "
            f"| {r['output_tokens']} | {r['cache_read_tokens']} | {r['cache_write_tokens']} "
            f"| {money(r['cost_usd'])} |"
        )
    note = cache_sentence(doc["costs"])
    return [*lines, "", *([note, ""] if note else [])]


def _failures(doc: dict[str, Any]) -> list[str]:
    failed = [c for c in doc["comparisons"] if c["status"] == "failed"]
    if not failed:
        return []
    lines = ["## Failed comparisons", "", "| id | round | error | reason |", "|---:|---:|---|---|"]
    for c in failed[:50]:
        reason = text(" ".join((c["failure_reason"] or "").split())[:120])
        lines.append(f"| {c['comparison_id']} | {c['round']} | {text(c['error_code'] or '')} "
                     f"| {reason} |")
    if len(failed) > 50:
        lines.append(f"| ... | | | {len(failed) - 50} more in the artefact |")
    return [*lines, ""]


def render_markdown(doc: dict[str, Any]) -> str:
    """The summary: quality banner and header, essays with text aimed at the judge, the ENG5
    runner's sections (for a runner artefact), scale table, grades, alignment, judge
    calibration (linking the SVG files :func:`cjgrade.reports.write_reports` writes), costs,
    failures."""
    parts = (
        _header(doc) + _injection(doc) + _runner(doc) + _essay_table(doc) + _grades(doc)
        + _alignment(doc) + markdown_calibration(doc) + _costs(doc) + _failures(doc)
    )
    return "\n".join(parts).rstrip() + "\n"
