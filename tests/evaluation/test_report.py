"""Means and spreads over seeds, the overall row, the tables and the budget plot."""

from __future__ import annotations

import dataclasses
import math

import pytest

from cjgrade.evaluation.metrics import SetFigures
from cjgrade.evaluation.plot import budget_svg
from cjgrade.evaluation.report import fmt, markdown_table, summarise


def _figures(essay_set: str, seed: int, qwk: float | None, budget: float | None = None,
             **more: object) -> SetFigures:
    base = dict(
        essay_set=essay_set, judge="j", seed=seed, budget_per_essay=budget, n_students=10,
        n_anchors=4, unanchored_levels=(), status="completed", stop_reason="budget",
        n_comparisons=30, n_failed=0, comparisons_per_essay=30 / 14, grades_available=True,
        grades_reason=None, qwk=qwk, exact=0.5, adjacent=0.9, nearest_anchor_qwk=0.5,
        quantile_qwk=0.7, spearman=0.8, reliability=0.9, ssr=0.88, truth_reliability=0.85,
        alignment_tau=1.0, human_qwk=None, length_spearman=0.6, input_tokens=100,
        output_tokens=10, cost_usd=None)
    base.update(more)
    return SetFigures(**base)  # type: ignore[arg-type]


def test_means_spreads_and_overall() -> None:
    runs = [_figures("1", 0, 0.6), _figures("1", 1, 0.8), _figures("2", 0, 0.4),
            _figures("2", 1, None, grades_available=False, grades_reason="no grades")]
    doc = summarise(runs, meta={"students": 10})
    rows = {r["essay_set"]: r for r in doc["rows"]}
    assert list(rows) == ["1", "2", "overall"]
    q1 = rows["1"]["figures"]["qwk"]
    assert (q1["mean"], q1["n"]) == (pytest.approx(0.7), 2)
    assert q1["sd"] == pytest.approx(math.sqrt(0.02))
    assert rows["2"]["figures"]["qwk"] == {"mean": 0.4, "sd": None, "n": 1}
    assert rows["2"]["grades_unavailable"] == ["no grades"]
    # overall: seed 0 mean (0.6 + 0.4) / 2 = 0.5, seed 1 only set 1: 0.8
    overall = rows["overall"]["figures"]["qwk"]
    assert overall["mean"] == pytest.approx(0.65)
    assert overall["sd"] == pytest.approx(math.sqrt(2 * 0.15**2))
    gap = rows["1"]["figures"]["qwk_minus_nearest"]
    assert gap["mean"] == pytest.approx(0.2)
    assert rows["1"]["figures"]["reliability_minus_truth"]["mean"] == pytest.approx(0.05)
    assert rows["1"]["figures"]["cost_usd"] == {"mean": None, "sd": None, "n": 0}
    assert len(doc["runs"]) == 4 and doc["students"] == 10


def test_formats() -> None:
    assert fmt({"mean": 0.71234, "sd": 0.01}, "qwk") == "0.712 ± 0.010"
    assert fmt({"mean": None, "sd": None}, "qwk") == "-"
    assert fmt({"mean": 2.14, "sd": None}, "comparisons_per_essay") == "2.1"
    doc = summarise([_figures("1", 0, 0.6)], meta={})
    table = markdown_table(doc)
    assert table.splitlines()[0].startswith("| judge | budget | set | QWK |")
    assert "| j | stopping rules | 1 | 0.600 |" in table
    assert "uses the human score distribution" in table


def test_budget_plot() -> None:
    runs = [dataclasses.replace(_figures("1", 0, q, budget=b), human_qwk=0.7)
            for q, b in ((0.5, 5.0), (0.7, 10.0), (0.8, 20.0))]
    svg = budget_svg(summarise(runs, meta={}), essay_set="1")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 4 and "human-human QWK 0.700" in svg
    assert "QWK of projected grades at 10: 0.700" in svg
    assert budget_svg(summarise([_figures("1", 0, 0.5)], meta={}), essay_set="1") == ""
