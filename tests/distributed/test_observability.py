"""Metrics and logs: the dashboard only plots metrics that exist; logs are JSON with context."""

from __future__ import annotations

import json
import re
from pathlib import Path

import structlog

from cjgrade.distributed.logs import bind_context, configure_logging
from cjgrade.distributed.metrics import DistributedMetrics
from cjgrade.judges.base import Usage, Verdict, Winner

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


def _exported_names(metrics: DistributedMetrics) -> set[str]:
    names = set()
    for family in metrics.registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count")}
    return names


def test_dashboard_queries_only_existing_metrics():
    """Every cjgrade_* series in the Grafana dashboard is exported by DistributedMetrics, and
    every exported metric has a panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"cjgrade_[a-z_]+", e)}
    exported = _exported_names(DistributedMetrics())
    assert used <= exported, used - exported
    families = {f.name for f in DistributedMetrics().registry.collect()}
    plotted = {re.sub(r"_(total|bucket|sum|count)$", "", m) for m in used}
    assert families <= plotted, families - plotted


def test_verdict_metrics_count_tokens_cost_and_latency():
    """A verdict adds one comparison, its tokens by kind, its cost and one latency sample."""
    metrics = DistributedMetrics()
    verdict = Verdict(winner=Winner.A, p_a=0.8, justification="", provider="openai",
                      model="gpt-5-mini", request_sha256="x",
                      usage=Usage(input_tokens=1200, output_tokens=80), cost_usd=0.0015)
    metrics.observe_verdict(verdict, 1.5)
    metrics.observe_failure("openai/gpt-5-mini", 0.5)
    r = metrics.registry
    labels = {"provider": "openai", "model": "gpt-5-mini"}
    assert r.get_sample_value("cjgrade_comparisons_total", {**labels, "status": "succeeded"}) == 1
    assert r.get_sample_value("cjgrade_comparisons_total", {**labels, "status": "failed"}) == 1
    assert r.get_sample_value("cjgrade_judge_tokens_total", {**labels, "kind": "input"}) == 1200
    assert r.get_sample_value("cjgrade_judge_tokens_total", {**labels, "kind": "output"}) == 80
    assert r.get_sample_value("cjgrade_judge_cost_usd_total", labels) == 0.0015
    assert r.get_sample_value("cjgrade_judge_latency_seconds_count", labels) == 2
    assert r.get_sample_value("cjgrade_judge_latency_seconds_sum", labels) == 2.0


def test_logs_are_json_with_batch_and_correlation_ids(capsys):
    """Log lines are JSON objects carrying the bound batch uuid and correlation id."""
    configure_logging("info")
    try:
        log = structlog.get_logger("test")
        with bind_context(batch_uuid="b-1", correlation_id="c-9", comparison_id=None):
            log.info("comparison stored", comparison_id=4)
        log.info("outside")
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]
    finally:
        structlog.reset_defaults()
    inside, outside = lines[-2], lines[-1]
    assert inside["event"] == "comparison stored" and inside["level"] == "info"
    assert inside["batch_uuid"] == "b-1" and inside["correlation_id"] == "c-9"
    assert inside["comparison_id"] == 4 and "timestamp" in inside
    assert "batch_uuid" not in outside
