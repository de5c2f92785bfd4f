"""The CLI summary of a finished run, read from its runner artefact (so an embedded and a
Kafka run print alike): comparisons and failures, reliability, the students' grade
distribution, tokens and cost per provider/model, the partial-data warning, where the
artefact is."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import typer

from cjgrade.display import printable

__all__ = ["print_summary", "summary_lines"]


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def summary_lines(doc: dict[str, Any], paths: dict[str, Path]) -> list[str]:
    """The summary as lines of text (printed by :func:`print_summary`)."""
    meta, costs, runner = doc["metadata"], doc["costs"], doc["runner"]
    status = doc["validation"]["runner_status"]
    lines = [
        f"ENG5 NP {runner['mode']} run {meta['batch_uuid']} (label: {runner['batch_label']}): "
        f"batch {meta['status']} ({meta['stop_reason']})",
        f"Comparisons: {costs['n_comparisons']} requested, {costs['n_succeeded']} succeeded, "
        f"{costs['n_failed']} failed",
    ]
    if meta.get("failure_reason"):
        lines.append(f"Failure: {meta['failure_reason']}")
    rel = doc["reliability"]
    ssr = rel.get("ssr")
    post = rel.get("posterior_reliability")
    lines.append("Reliability: SSR " + ("n/a" if ssr is None else f"{ssr:.3f}")
                 + ("" if post is None else f", posterior {post:.3f}"))
    students = [e for e in doc["essays"] if not e["is_anchor"]]
    grades = Counter(e["grade_projection"]["grade"] for e in students if e["grade_projection"])
    if grades:
        quality = (doc.get("quality") or {}).get("status")
        note = " (NOT RELIABLE: see quality in the artefact)" if quality == "degenerate" else ""
        lines.append("Grade distribution (students): "
                     + ", ".join(f"{g}: {n}" for g, n in sorted(grades.items())) + note)
    else:
        lines.append("Grade distribution (students): none (no grades projected)")
    lines.append(f"Total LLM cost {_money(costs['total_usd'])}")
    for line in costs["by_model"]:
        lines.append(f"  · {line['provider']}::{line['model']}: {line['comparisons']} "
                     f"comparisons, {line['input_tokens']} prompt / {line['output_tokens']} "
                     f"completion tokens (cache {line['cache_read_tokens']} read / "
                     f"{line['cache_write_tokens']} written), {_money(line['cost_usd'])}")
    events = status["observed_events"]
    lines.append(f"Observed events -> comparisons: {events['comparisons']}, assessment_results: "
                 f"{events['assessment_results']}, completions: {events['completions']}")
    if status["partial_data"]:
        lines.append(f"WARNING: partial data: the run stopped waiting after "
                     f"{status['timeout_seconds']} s before the batch completed; the artefact "
                     "holds what had arrived")
    extract = doc["validation"]["post_run"].get("eng5_db_extract")
    if extract:
        lines.append(f"DB extract: {extract['status']}"
                     + (f" ({extract['error']})" if extract.get("error") else
                        f" -> {extract.get('output_dir')}"))
    for kind, path in paths.items():
        lines.append(f"{kind}: {path}")
    return lines


def print_summary(doc: dict[str, Any], paths: dict[str, Path]) -> None:
    for line in summary_lines(doc, paths):
        typer.echo(printable(line))
