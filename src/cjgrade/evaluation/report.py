"""The evaluation report: figures averaged over seeds per judge, budget and set, and overall.

``summarise`` builds the JSON-ready document; ``markdown_table`` and ``rich_table`` render its
rows; :mod:`cjgrade.evaluation.plot` draws the budget study. A set's figure is the mean over
seeds (with the sample SD as ``sd`` when there are two seeds or more); ``overall`` is, for each
seed, the mean over the sets, then the mean and SD of those over seeds. A figure that could not
be computed in a batch (no grades, no second rater) is left out of its mean and counted in
``n``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from cjgrade.evaluation.datasets import set_sort_key
from cjgrade.evaluation.metrics import FIGURES, SetFigures

__all__ = ["COLUMNS", "markdown_table", "summarise"]

OVERALL = "overall"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("qwk", "QWK"),
    ("exact", "exact"),
    ("adjacent", "adj."),
    ("nearest_anchor_qwk", "QWK nearest anchor"),
    ("human_qwk", "QWK human-human"),
    ("spearman", "Spearman"),
    ("reliability", "rel. reported"),
    ("truth_reliability", "rel. truth"),
    ("alignment_tau", "anchor tau"),
    ("comparisons_per_essay", "comp./essay"),
    ("input_tokens", "tokens in"),
    ("output_tokens", "tokens out"),
    ("cost_usd", "cost $"),
    ("length_spearman", "length rho"),
    ("quantile_qwk", "QWK quantile*"),
)
"""Table columns: figure name and header. ``*``: uses the human score distribution."""
COUNTS = frozenset({"input_tokens", "output_tokens", "n_comparisons", "n_failed"})


def _stat(values: Sequence[float | None]) -> dict[str, Any]:
    got = [float(v) for v in values if v is not None]
    if not got:
        return {"mean": None, "sd": None, "n": 0}
    mean = math.fsum(got) / len(got)
    sd = (math.sqrt(math.fsum((v - mean) ** 2 for v in got) / (len(got) - 1))
          if len(got) > 1 else None)
    return {"mean": mean, "sd": sd, "n": len(got)}


def _row(judge: str, budget: float | None, essay_set: str,
         values: dict[str, list[float | None]], notes: dict[str, Any]) -> dict[str, Any]:
    figures = {name: _stat(values.get(name, [])) for name in FIGURES}
    for name, (a, b) in {"qwk_minus_nearest": ("qwk", "nearest_anchor_qwk"),
                         "reliability_minus_truth": ("reliability", "truth_reliability")}.items():
        pairs = zip(values.get(a, []), values.get(b, []), strict=True)
        figures[name] = _stat([x - y if x is not None and y is not None else None
                               for x, y in pairs])
    return {"judge": judge, "budget_per_essay": budget, "essay_set": essay_set,
            "figures": figures, **notes}


def summarise(runs: Sequence[SetFigures], *, meta: dict[str, Any]) -> dict[str, Any]:
    """The report document: ``meta`` plus ``rows`` (per judge, budget and set, then
    ``overall``) and ``runs`` (every batch's own figures)."""
    groups: dict[tuple[str, float | None], dict[str, list[SetFigures]]] = defaultdict(
        lambda: defaultdict(list))
    for run in runs:
        groups[(run.judge, run.budget_per_essay)][run.essay_set].append(run)
    rows = []
    for (judge, budget), by_set in groups.items():
        per_seed: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for essay_set in sorted(by_set, key=set_sort_key):
            batch = by_set[essay_set]
            values = {name: [getattr(r, name) for r in batch] for name in FIGURES}
            notes = {
                "n_students": batch[0].n_students, "n_anchors": batch[0].n_anchors,
                "unanchored_levels": list(batch[0].unanchored_levels),
                "stop_reasons": sorted({r.stop_reason for r in batch}),
                "grades_unavailable": sorted({r.grades_reason for r in batch
                                              if r.grades_reason}),
            }
            rows.append(_row(judge, budget, essay_set, values, notes))
            for r in batch:
                for name in FIGURES:
                    value = getattr(r, name)
                    if value is not None:
                        per_seed[r.seed][name].append(float(value))
        if len(by_set) > 1:
            seeds = sorted(per_seed)
            values = {name: [(math.fsum(per_seed[s][name]) / len(per_seed[s][name])
                              if per_seed[s][name] else None) for s in seeds]
                      for name in FIGURES}
            rows.append(_row(judge, budget, OVERALL, values, {}))
    return {**meta, "rows": rows, "runs": [asdict(r) for r in runs]}


def fmt(stat: dict[str, Any], name: str) -> str:
    """``0.912`` or ``0.912 ± 0.020`` (seeds); ``-`` when not computed."""
    mean = stat["mean"]
    if mean is None:
        return "-"
    digits = (1 if name == "comparisons_per_essay" else 4 if name == "cost_usd"
              else 0 if name in COUNTS else 3)
    text = f"{mean:.{digits}f}"
    if stat["sd"] is not None:
        text += f" ± {stat['sd']:.{digits}f}"
    return text


def _budget_text(budget: float | None) -> str:
    return "stopping rules" if budget is None else f"{budget:g}/essay"


def table_rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the summary table (one row per judge, budget and set)."""
    header = ["judge", "budget", "set", *[h for _, h in COLUMNS]]
    cells = [[row["judge"], _budget_text(row["budget_per_essay"]), row["essay_set"],
              *[fmt(row["figures"][name], name) for name, _ in COLUMNS]]
             for row in doc["rows"]]
    return header, cells


def markdown_table(doc: dict[str, Any]) -> str:
    """The summary as a Markdown pipe table, with the footnote on the starred column."""
    header, cells = table_rows(doc)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    lines.append("")
    lines.append("\\* QWK quantile: abilities mapped onto the students' own human score "
                 "distribution (uses the human score distribution; not what a user gets).")
    return "\n".join(lines) + "\n"
