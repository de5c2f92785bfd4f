"""The work behind ``cjgrade fit``: read, fit, summarise, print (imported only when it runs).

JSON output (``--format json``, the default)::

    {"n_items", "n_comparisons", "ssr", "separation", "alpha", "eps", "se_method",
     "position_effect", "position_se", "log_likelihood", "split_half",
     "items": [{"id", "theta", "se", "wins", "losses", "n", "infit", "outfit"}, ...],
     "judges": [{"judge", "n", "infit", "outfit"}, ...]}

Items are listed from highest to lowest theta. ``wins``/``losses`` count the rows in which the
item was ``candidate_chosen`` / ``candidate_not_chosen`` (whatever ``p_chosen`` says).
``separation`` is the Wright & Masters separation index G (true SD over RMSE).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cjgrade.decisions import DecisionSet, read_decisions
from cjgrade.errors import ConfigError, InputError
from cjgrade.stats.bt import BTFit, SEMethod, fit_bradley_terry
from cjgrade.stats.fitstats import FitStatistics, compute_fit_statistics
from cjgrade.stats.reliability import (
    scale_separation_reliability,
    separation_index,
    split_half_reliability,
)

FORMATS = ("json", "table")
SE_CHOICES = ("auto", "fisher", "diagonal")


def _num(x: float | None) -> float | None:
    """JSON has no NaN: undefined statistics become null."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def build_fit_report(
    ds: DecisionSet, fit: BTFit, stats: FitStatistics, split_half: float | None = None
) -> dict[str, Any]:
    """The JSON-ready report of a fit (pure: no I/O)."""
    n = len(ds.item_ids)
    wins = np.bincount(ds.chosen, minlength=n)
    losses = np.bincount(ds.not_chosen, minlength=n)
    order = sorted(range(n), key=lambda i: (-fit.theta[i], ds.item_ids[i]))
    items = [
        {
            "id": ds.item_ids[i],
            "theta": float(fit.theta[i]),
            "se": _num(fit.se[i]),
            "wins": int(wins[i]),
            "losses": int(losses[i]),
            "n": int(wins[i] + losses[i]),
            "infit": _num(stats.item_infit[i]),
            "outfit": _num(stats.item_outfit[i]),
        }
        for i in order
    ]
    judges = [
        {
            "judge": ds.judge_ids[j],
            "n": int(stats.judge_count[j]),
            "infit": _num(stats.judge_infit[j]),
            "outfit": _num(stats.judge_outfit[j]),
        }
        for j in range(len(ds.judge_ids))
    ]
    return {
        "n_items": n,
        "n_comparisons": ds.n_comparisons,
        "ssr": _num(scale_separation_reliability(fit.theta, fit.se)),
        "separation": _num(separation_index(fit.theta, fit.se)),
        "alpha": fit.alpha,
        "eps": fit.eps,
        "se_method": fit.se_method,
        "position_effect": _num(fit.position_effect),
        "position_se": _num(fit.position_se),
        "log_likelihood": fit.log_likelihood,
        "split_half": _num(split_half),
        "extreme_items": [ds.item_ids[i] for i in fit.extreme],
        "items": items,
        "judges": judges,
    }


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(x: float | None, digits: int = 2) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    console = Console()
    summary = (
        f"{report['n_items']} items, {report['n_comparisons']} comparisons, "
        f"SSR {fmt(report['ssr'], 3)}, separation G {fmt(report['separation'])} "
        f"(SE: {report['se_method']}"
        + (f", eps {report['eps']}" if report["eps"] else "")
        + (f", alpha {report['alpha']}" if report["alpha"] else "")
        + ")"
    )
    if report["position_effect"] is not None:
        summary += (
            f"\nfirst-position effect {fmt(report['position_effect'], 3)} "
            f"(SE {fmt(report['position_se'], 3)}) logits"
        )
    if report["split_half"] is not None:
        summary += f"\nsplit-half reliability {fmt(report['split_half'], 3)}"
    table = Table(title="Bradley-Terry scale")
    for col in ("id", "theta", "se", "wins", "losses", "n", "infit", "outfit"):
        table.add_column(col, justify="left" if col == "id" else "right")
    for it in report["items"]:
        table.add_row(
            it["id"],
            fmt(it["theta"]),
            fmt(it["se"]),
            str(it["wins"]),
            str(it["losses"]),
            str(it["n"]),
            fmt(it["infit"]),
            fmt(it["outfit"]),
        )
    judges = Table(title="Judges")
    for col in ("judge", "n", "infit", "outfit"):
        judges.add_column(col, justify="left" if col == "judge" else "right")
    for jd in report["judges"]:
        judges.add_row(jd["judge"], str(jd["n"]), fmt(jd["infit"]), fmt(jd["outfit"]))
    console.print(summary)
    console.print(table)
    console.print(judges)


def run_fit(
    path: Path,
    *,
    alpha: float = 0.0,
    eps: float = 0.0,
    position_effect: bool = False,
    se: str = "auto",
    split_half: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Read, validate, fit and summarise; raises :mod:`cjgrade.errors` on user mistakes."""
    if alpha < 0 or not math.isfinite(alpha):
        raise InputError("--alpha must be a non-negative number")
    if not 0.0 <= eps < 0.5:
        raise InputError("--eps must be in [0, 0.5) (sirt's default is 0.3)")
    if se not in SE_CHOICES:
        raise ConfigError(f"--se {se!r} is not one of {', '.join(SE_CHOICES)}")
    if split_half < 0:
        raise InputError("--split-half must be a non-negative number of splits")
    ds = read_decisions(path)
    if position_effect and not ds.has_positions:
        raise InputError(
            "--position-effect needs a 'position' column (A/B or 1/2: the slot of the chosen "
            "candidate) with at least one filled row"
        )
    # auto: sirt's own SEs with its score adjustment (sirt-compatible), exact Fisher otherwise.
    se_method: SEMethod = "diagonal" if se == "diagonal" or (se == "auto" and eps > 0) else "fisher"
    fit = fit_bradley_terry(
        ds.data,
        alpha=alpha,
        eps=eps,
        position_effect=position_effect,
        se_method=se_method,
        item_labels=ds.item_ids,
    )
    stats = compute_fit_statistics(
        ds.data, fit.theta, position_effect=fit.position_effect, n_judges=len(ds.judge_ids)
    )
    sh = None
    if split_half:
        rng = np.random.default_rng(seed)
        by: Literal["judge", "decision"] = "judge" if len(ds.judge_ids) >= 2 else "decision"
        sh = split_half_reliability(ds.data, rng, by=by, n_splits=split_half).reliability
    return build_fit_report(ds, fit, stats, sh)
