"""The ENG5 NP runner's part of the reports, and reading a runner artefact for ``cjgrade report``.

An ``eng5-np-run`` artefact (``assessment_run.<mode>.json``) is the project's artefact plus a
top-level ``runner`` key and ``validation.manifest|runner_status|post_run``; it is validated
against the runner's schema (``runner/eng5/schema/eng5_assessment_run.schema.json``), and the
reports show the same sections as for any run plus the ones built here: the run (mode, course
fields, assignment, warnings, what was recorded), every judge setting and the prompts' SHA-256,
and the anchor alignment and boundary test figures when the run has them.

:func:`runner_sections` returns plain text (:class:`Section`); the Markdown and HTML renderers
escape it (labels, course ids, file names and judge names come from outside).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cjgrade.errors import InputError
from cjgrade.reports.artefact import find_artefact, load_artefact, validate_artefact

__all__ = ["Section", "load_for_report", "runner_sections", "validate_any_artefact"]


@dataclass(frozen=True)
class Section:
    """One report section: a heading, ``label: value`` lines, an optional table and an
    optional warning shown first."""

    heading: str
    items: list[tuple[str, str]]
    table: tuple[list[str], list[list[str]]] | None = None
    warnings: list[str] = field(default_factory=list)


def validate_any_artefact(doc: dict[str, Any]) -> None:
    """Validate ``doc`` against the runner's schema when it has a ``runner`` key, else against
    the project's; raises InputError listing the first problems."""
    if "runner" not in doc:
        validate_artefact(doc)
        return
    from cjgrade.runner.eng5.artefact import load_runner_schema, validate_against

    validate_against(doc, load_runner_schema(), "the ENG5 runner artefact")


def load_for_report(path: Path) -> tuple[dict[str, Any], Path]:
    """The artefact of ``path`` (a file or a run folder of ``cjgrade run``, ``cjgrade batches
    export`` or ``eng5-np-run``), checksum verified and validated, and the folder its reports
    belong in.

    Raises
    ------
    InputError
        No artefact, an edited or invalid one, or a dry run (it has no results to report).
    """
    file = find_artefact(path)
    doc = load_artefact(file)
    try:
        validate_any_artefact(doc)
    except InputError as exc:
        raise InputError(f"{file}: {exc}") from exc
    if doc["metadata"].get("status") == "not_run":
        raise InputError(f"{file}: a dry run (no judge was called): there are no results to "
                         "report; run it with --mode execute")
    return doc, path if path.is_dir() else path.parent


def _value(value: Any) -> str:
    """A setting as shown: ``default`` for an unset (null) one, yes/no for booleans."""
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _num(value: float | None, digits: int = 3) -> str:
    return "undefined" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ids(values: list[Any]) -> str:
    return ", ".join(str(v) for v in values) if values else "none"


def _run(doc: dict[str, Any]) -> Section:
    r = doc["runner"]
    items = [
        ("mode", r["mode"]),
        ("runner version", r["runner_version"]),
        ("batch label", r["batch_label"]),
        ("course", f"{r['course_code']} (course id {r.get('course_id') or 'none'})"),
        ("language", r["language"]),
        ("input layout", r["input_layout"]),
        ("expected grade scale", r.get("expected_grade_scale") or "none given (not checked)"),
    ]
    assignment = r.get("assignment")
    if assignment:
        items.append(("assignment", f"{assignment.get('assignment_id')} (scale "
                      f"{assignment.get('grade_scale')}, context from "
                      f"{assignment.get('context_origin')}, {assignment.get('anchor_count')} "
                      "registered anchors)"))
    else:
        items.append(("assignment", "none (anchors and instructions from the input folder)"))
    if r.get("capacity") is not None:
        items.append(("comparison capacity", str(r["capacity"])))
    validation = doc["validation"]
    status = validation.get("runner_status") or {}
    events = status.get("observed_events")
    if events and r["mode"] == "execute":  # the other modes observe no bus events
        items.append(("observed events", f"{events['comparisons']} comparisons, "
                      f"{events['assessment_results']} assessment results, "
                      f"{events['completions']} completions"))
    extract = (validation.get("post_run") or {}).get("eng5_db_extract")
    if extract:
        detail = extract.get("error") or extract.get("reason") or extract.get("output_dir")
        items.append(("database extract", str(extract.get("status"))
                      + (f" ({detail})" if detail else "")))
    items.append(("files recorded with SHA-256", str(len(validation.get("manifest") or []))))
    warnings = [f"input: {w}" for w in r.get("warnings") or []]
    if status.get("partial_data"):
        warnings.insert(0, f"partial data: the runner stopped waiting after "
                        f"{status.get('timeout_seconds')} s, before the batch completed; the "
                        "results hold what had arrived")
    return Section("ENG5 NP runner", items, warnings=warnings)


_JUDGE_SETTINGS = (
    ("name", "judge"), ("provider", "provider"), ("model", "model"), ("base_url", "base URL"),
    ("temperature", "temperature"), ("max_tokens", "max output tokens"),
    ("reasoning_effort", "reasoning effort"), ("output_verbosity", "output verbosity"),
    ("batching_mode", "batching mode"), ("language", "language"),
)


def _judge(doc: dict[str, Any]) -> Section:
    judge = doc["runner"]["judge"]
    items = [(label, _value(judge.get(key))) for key, label in _JUDGE_SETTINGS]
    for key, label in (("system_prompt", "system prompt"), ("rubric", "rubric")):
        record = doc["runner"]["prompts"].get(key)
        if record is None:
            items.append((label, "none"))
        else:
            items.append((label, f"{record.get('source') or 'built in'} (SHA-256 "
                          f"{record['sha256'][:16]}...)"))
    return Section("Judge settings", items)


def _alignment(section: dict[str, Any]) -> Section:
    items = [
        ("anchors", str(section.get("n_anchors"))),
        ("anchor pairs judged", f"{section.get('n_pairs_compared')} of "
                                f"{section.get('n_anchor_pairs')}"),
        ("comparisons", f"{section.get('n_comparisons')} succeeded, {section.get('n_failed')} "
                        "failed"),
        ("Kendall tau-b", f"{_num(section.get('kendall_tau_b'))} (best possible "
                          f"{_num(section.get('kendall_tau_b_max'))}, p = "
                          f"{_num(section.get('kendall_tau_b_p_value'))})"),
        ("original tau-a", _num(section.get("kendall_tau_original"))),
        ("direct inversions", f"{section.get('direct_inversion_pairs')} anchor pair(s), "
                              f"{section.get('inversion_decisions')} decision(s)"),
        ("inverted pairs (the lower-graded anchor won)",
         _ids([f"{w} won over {lo}" for w, lo in section.get("inversion_pairs") or []])),
        ("zero-win anchors", _ids(section.get("zero_win_anchors") or [])),
        ("zero-win anchors above the lowest grade",
         _ids(section.get("problem_zero_win_anchors") or [])),
        ("anchors never compared", _ids(section.get("uncompared_anchors") or [])),
        ("meets the targets", _value(bool(section.get("meets_targets")))),
    ]
    report = section.get("report_file")
    if report:
        items.append(("full report", str(report.get("path"))))
    return Section("Anchor alignment test", items)


def _boundary(section: dict[str, Any]) -> Section:
    items = [
        ("repeats", f"{section.get('iterations')} per order, {section.get('calls_per_pair')} "
                    "calls per pair"),
        ("response cache", str(section.get("response_cache"))),
    ]
    report = section.get("report_file")
    if report:
        items.append(("full report", str(report.get("path"))))
    head = ["pair", "higher", "lower", "calls", "failed", "higher-grade win rate",
            "95% interval", "hard wins", "first shown won", "reading"]
    rows = []
    for pair in section.get("pairs") or []:
        m = pair.get("metrics") or {}
        interval = m.get("win_rate_interval")
        rows.append([
            str(pair.get("spec")),
            f"{pair['higher'].get('file_name') or pair['higher'].get('essay_id')} "
            f"({pair['higher'].get('grade')})",
            f"{pair['lower'].get('file_name') or pair['lower'].get('essay_id')} "
            f"({pair['lower'].get('grade')})",
            str(pair.get("n_calls")), str(pair.get("n_failed")),
            _pct(m.get("win_rate")),
            "-" if not interval else f"[{interval[0]:.1%}, {interval[1]:.1%}]",
            f"{m.get('hard_wins')} of {m.get('n')}",
            f"{m.get('first_position_wins')} of {m.get('n')}",
            str(pair.get("reading")),
        ])
    return Section("Boundary test", items, (head, rows) if rows else None)


def runner_sections(doc: dict[str, Any]) -> list[Section]:
    """The runner's sections of the reports; none for an artefact without ``runner``."""
    runner = doc.get("runner")
    if not runner:
        return []
    sections = [_run(doc), _judge(doc)]
    if runner.get("anchor_alignment"):
        sections.append(_alignment(runner["anchor_alignment"]))
    if runner.get("boundary_test"):
        sections.append(_boundary(runner["boundary_test"]))
    return sections
