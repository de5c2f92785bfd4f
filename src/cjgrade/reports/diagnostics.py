"""The quality banner and the judge-calibration section of both reports, from the artefact's
``quality``, ``calibration`` and ``rounds`` (artefacts before schema 1.2 have neither section:
the reports then say the checks were not recorded)."""

from __future__ import annotations

from html import escape
from typing import Any

from cjgrade.display import markdown_text
from cjgrade.reports.svg_diagnostics import reliability_diagram_svg, reliability_rounds_svg

__all__ = [
    "FIGURE_FILES",
    "banner",
    "calibration_table",
    "figures",
    "grades_reliable",
    "html_banner",
    "html_calibration",
    "markdown_banner",
    "markdown_calibration",
    "quality_line",
]

FIGURE_FILES = {"calibration": "calibration.svg", "rounds": "reliability_by_round.svg"}
"""The SVG files written beside ``report.md`` (the HTML report inlines them)."""

_HEAD = ("p(chosen) stated", "comparisons", "mean stated", "scale agrees", "scale expects",
         "anchor pairs", "agrees with anchors")


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def grades_reliable(doc: dict[str, Any]) -> bool:
    """False when the artefact's quality check found the result degenerate."""
    return (doc.get("quality") or {}).get("status") != "degenerate"


def banner(doc: dict[str, Any]) -> tuple[str, str, list[str]] | None:
    """``(severity, headline, reasons)`` for a degenerate or warned result, else None."""
    quality = doc.get("quality")
    if not quality or quality.get("status") not in ("degenerate", "warning"):
        return None
    reasons = [f"{r['message']} ({r['code']})" for r in quality.get("reasons") or []]
    if quality["status"] == "warning":
        return "warning", "Caution: the result passed the checks with warnings.", reasons
    has_grades = bool(doc.get("grades", {}).get("available"))
    headline = ("DEGENERATE RESULT: the grades of this run are NOT reliable. Do not use them."
                if has_grades else
                "DEGENERATE RESULT: the scale of this run carries no usable information.")
    return "degenerate", headline, reasons


def quality_line(doc: dict[str, Any]) -> str:
    """One line: the status and the reliability the check read."""
    quality = doc.get("quality")
    if not quality:
        return "not recorded (artefact written before schema 1.2)"
    figures = quality.get("figures") or {}
    rel = figures.get("reliability")
    source = (figures.get("reliability_source") or "").replace("_", " ")
    detail = f"reliability {rel:.2f} ({source})" if rel is not None else "no reliability"
    return f"{quality['status']}: {detail}"


def markdown_banner(doc: dict[str, Any]) -> list[str]:
    found = banner(doc)
    if found is None:
        return []
    severity, headline, reasons = found
    mark = "**" if severity == "degenerate" else "*"
    return [f"> {mark}{headline}{mark}", ">", *(f"> - {markdown_text(r)}" for r in reasons), ""]


def html_banner(doc: dict[str, Any]) -> str:
    found = banner(doc)
    if found is None:
        return ""
    severity, headline, reasons = found
    items = "".join(f"<li>{escape(r)}</li>" for r in reasons)
    return (f'<div class="banner {severity}" role="alert"><strong>{escape(headline)}</strong>'
            f"<ul>{items}</ul></div>")


def calibration_table(cells: list[dict[str, Any]], first: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows for the non-empty cells (``first`` names the first column)."""
    rows = [
        [str(c["label"]), str(c["n"]), _pct(c["mean_stated_p_chosen"]),
         _pct(c["observed_agreement"]), _pct(c["predicted_agreement"]), str(c["anchor_pairs"]),
         _pct(c["anchor_agreement"])]
        for c in cells if c.get("n")
    ]
    return [first, *_HEAD[1:]], rows


def _summary(cal: dict[str, Any]) -> str:
    overall = cal["overall"]
    text = (f"{cal['n_comparisons']} decided comparisons: the judge stated "
            f"{_pct(overall['mean_stated_p_chosen'])} on average; the fitted scale agrees with "
            f"{_pct(overall['observed_agreement'])} of the verdicts and expects "
            f"{_pct(overall['predicted_agreement'])}; calibration error "
            f"{_pct(cal.get('calibration_error'))}.")
    expected = overall.get("predicted_agreement")
    if expected is not None and expected < 0.6:
        text += (" The scale itself expects little agreement: it barely separates the essays, "
                 "so these figures say little about the judge.")
    if cal.get("hard_outcomes"):
        text += " The judge states no probability (every verdict is 0 or 1): one point only."
    if cal.get("n_undecided"):
        text += f" {cal['n_undecided']} verdicts of exactly 0.5 are left out."
    return text + " Agreement is in-sample (the scale was fitted on these verdicts)."


def _tables(cal: dict[str, Any]) -> list[tuple[list[str], list[list[str]]]]:
    out = [calibration_table(cal.get("bins") or [], _HEAD[0])]
    if cal.get("confidence_levels"):
        out.append(calibration_table(cal["confidence_levels"], "stated confidence (1-5)"))
    return out


def figures(doc: dict[str, Any]) -> dict[str, str]:
    """The two SVG charts, keyed like :data:`FIGURE_FILES`."""
    options = doc.get("metadata", {}).get("options") or {}
    thresholds = (doc.get("quality") or {}).get("thresholds") or {}
    return {
        "calibration": reliability_diagram_svg(doc.get("calibration")),
        "rounds": reliability_rounds_svg(doc.get("rounds") or [],
                                         target=options.get("target_reliability"),
                                         threshold=thresholds.get("reliability_degenerate")),
    }


def markdown_calibration(doc: dict[str, Any]) -> list[str]:
    lines = ["## Judge calibration and reliability by round", ""]
    cal = doc.get("calibration")
    if not cal:
        return [*lines, "No successful comparison: nothing to calibrate.", ""]
    lines += [_summary(cal), ""]
    for head, rows in _tables(cal):
        lines += ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
    lines += [f"![Judge reliability diagram]({FIGURE_FILES['calibration']}) "
              f"![Reliability by round]({FIGURE_FILES['rounds']})", ""]
    return lines


def html_calibration(doc: dict[str, Any], table: Any) -> list[str]:
    """The section; ``table(head, rows, css_class)`` renders an escaped HTML table."""
    parts = ["<h2>Judge calibration and reliability by round</h2>"]
    cal = doc.get("calibration")
    charts = figures(doc)
    parts.append(f'<div class="charts">{charts["calibration"]}{charts["rounds"]}</div>')
    if not cal:
        return [*parts, "<p>No successful comparison: nothing to calibrate.</p>"]
    parts.append(f'<p class="note">{escape(_summary(cal))}</p>')
    parts += [table(head, rows, "calibration") for head, rows in _tables(cal)]
    return parts
