"""The work behind ``cjgrade fit``: read, fit, summarise, print (imported only when it runs).

JSON output (``--format json``, the default)::

    {"n_items", "n_comparisons", "ssr", "separation", "alpha", "eps", "se_method",
     "position_effect", "position_se", "log_likelihood", "soft_comparisons",
     "soft_noise_variance", "split_half", "extreme_items",
     "components", "component_sizes", "isolated_items",
     "self_comparisons_ignored", "self_comparison_lines", "notices",
     "items": [{"id", "theta", "se", "wins", "losses", "n", "infit", "outfit", "component"}, ...],
     "judges": [{"judge", "n", "infit", "outfit"}, ...]}

Items are listed from highest to lowest theta (items without comparisons last).
``wins``/``losses`` count the rows in which the item was ``candidate_chosen`` /
``candidate_not_chosen`` (whatever ``p_chosen`` says; self-comparisons left out).
``separation`` is the Wright & Masters separation index G (true SD over RMSE); it and ``ssr``
are computed over the items with an ability. ``components`` counts the connected components of
the comparison graph (``component_sizes`` largest first; an item's ``component`` indexes them;
items with no comparisons are in none and listed in ``isolated_items``). ``notices`` repeats
what was printed on stderr. ``soft_comparisons`` counts the rows whose ``p_chosen`` is a soft
outcome (strictly between 0 and 1, not 0.5), fitted on its logit; ``soft_noise_variance`` is
the noise variance estimated for them (null without soft rows).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cjgrade.cli.decisions_csv import DecisionSet, read_decisions
from cjgrade.errors import ConfigError, ConvergenceError, InputError
from cjgrade.stats.bt import BTFit, SEMethod, fit_bradley_terry
from cjgrade.stats.components import Components, fit_by_component, label_components
from cjgrade.stats.fitstats import FitStatistics, compute_fit_statistics
from cjgrade.stats.reliability import (
    scale_separation_reliability,
    separation_index,
    split_half_reliability,
)

FORMATS = ("json", "table")
SE_CHOICES = ("auto", "fisher", "diagonal", "none")
DENSE_SE_LIMIT = 6000
"""Above this many items exact standard errors (a dense n x n matrix) are not computed."""

# The statistics core names its options as Python keywords; a CLI user needs the flags.
_FLAG_WORDING = (
    (re.compile(r"se_method='(\w+)' or '(\w+)'"), r"--se \1 or --se \2"),
    (re.compile(r"se_method='(\w+)'"), r"--se \1"),
    (re.compile(r"\(alpha > 0\)"), "(--alpha, e.g. --alpha 0.1)"),
    (re.compile(r"\(eps > 0\)"), "(--eps, e.g. --eps 0.3)"),
    (re.compile(r"\balpha > 0\b"), "--alpha > 0"),
    (re.compile(r"\beps > 0\b"), "--eps > 0"),
    (re.compile(r"\beps=(\S+)"), r"--eps \1"),
    (re.compile(r"a smaller eps\b"), "a smaller --eps"),
    (re.compile(r"raise (?:max_iter|the iteration limit) or "), ""),
    (re.compile(r",? or raise max_dense_se"), ""),
    (
        re.compile(r"the diagonal \(memory-linear, sirt-style\) standard errors or none"),
        "--se diagonal (memory-linear, sirt-style) or --se none",
    ),
)


def cli_wording(message: str) -> str:
    """Reword a statistics-core message for the CLI: flags instead of Python keywords."""
    for pattern, replacement in _FLAG_WORDING:
        message = pattern.sub(replacement, message)
    return message


def _num(x: float | None) -> float | None:
    """JSON has no NaN: undefined statistics become null."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def choose_se_method(se: str, eps: float, n_items: int) -> tuple[SEMethod, str | None]:
    """The ``se_method`` for ``--se``, and a notice when ``auto`` had to give up exact SEs.

    ``auto``: diagonal (sirt's) SEs with ``--eps``; otherwise exact Fisher SEs up to
    :data:`DENSE_SE_LIMIT` items and diagonal ones above, with a notice.
    """
    if se not in SE_CHOICES:
        raise ConfigError(f"--se {se!r} is not one of {', '.join(SE_CHOICES)}")
    gb = 8 * n_items * n_items / 1e9
    if se == "auto":
        if eps > 0:
            return "diagonal", None
        if n_items > DENSE_SE_LIMIT:
            return "diagonal", (
                f"note: {n_items} items is above the {DENSE_SE_LIMIT}-item limit for exact "
                f"standard errors (a dense {n_items}x{n_items} matrix, {gb:.1f} GB), so --se "
                "auto uses --se diagonal (sirt-style, memory-linear; a little too small for "
                "sparse designs); --se none skips standard errors"
            )
        return "fisher", None
    if se == "fisher" and n_items > DENSE_SE_LIMIT:
        raise InputError(
            f"--se fisher for {n_items} items needs a dense {n_items}x{n_items} matrix "
            f"({gb:.1f} GB; the limit is {DENSE_SE_LIMIT} items); use --se diagonal "
            "(sirt-style, memory-linear) or --se none"
        )
    method: SEMethod = "diagonal" if se == "diagonal" else "none" if se == "none" else "fisher"
    return method, None


def build_fit_report(
    ds: DecisionSet,
    fit: BTFit,
    stats: FitStatistics,
    split_half: float | None = None,
    components: Components | None = None,
    notices: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The JSON-ready report of a fit (pure: no I/O)."""
    n = len(ds.item_ids)
    comps = components if components is not None else label_components(ds.data)
    wins = np.bincount(ds.chosen, minlength=n)
    losses = np.bincount(ds.not_chosen, minlength=n)
    has_theta = np.isfinite(fit.theta)
    order = sorted(range(n), key=lambda i: (not has_theta[i], -fit.theta[i], ds.item_ids[i]))
    items = [
        {
            "id": ds.item_ids[i],
            "theta": _num(fit.theta[i]),
            "se": _num(fit.se[i]),
            "wins": int(wins[i]),
            "losses": int(losses[i]),
            "n": int(wins[i] + losses[i]),
            "infit": _num(stats.item_infit[i]),
            "outfit": _num(stats.item_outfit[i]),
            "component": int(comps.labels[i]) if comps.labels[i] >= 0 else None,
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
    theta, se = fit.theta[has_theta], fit.se[has_theta]
    return {
        "n_items": n,
        "n_comparisons": ds.n_comparisons,
        "ssr": _num(scale_separation_reliability(theta, se)),
        "separation": _num(separation_index(theta, se)),
        "alpha": fit.alpha,
        "eps": fit.eps,
        "se_method": fit.se_method,
        "position_effect": _num(fit.position_effect),
        "position_se": _num(fit.position_se),
        "log_likelihood": fit.log_likelihood,
        "soft_comparisons": fit.n_soft,
        "soft_noise_variance": _num(fit.soft_variance),
        "split_half": _num(split_half),
        "extreme_items": [ds.item_ids[i] for i in fit.extreme],
        "components": comps.n_components,
        "component_sizes": list(comps.sizes),
        "isolated_items": [ds.item_ids[i] for i in comps.isolated],
        "self_comparisons_ignored": len(ds.self_comparison_lines),
        "self_comparison_lines": list(ds.self_comparison_lines),
        "notices": list(notices),
        "items": items,
        "judges": judges,
    }


def _summary(report: dict[str, Any], fmt: Any) -> str:
    summary = (
        f"{report['n_items']} items, {report['n_comparisons']} comparisons, "
        f"SSR {fmt(report['ssr'], 3)}, separation G {fmt(report['separation'])} "
        f"(SE: {report['se_method']}"
        + (f", eps {report['eps']}" if report["eps"] else "")
        + (f", alpha {report['alpha']}" if report["alpha"] else "")
        + ")"
    )
    sizes = report["component_sizes"]
    if len(sizes) > 1:
        summary += (
            f"\ncomparison graph: {len(sizes)} components of {', '.join(map(str, sizes))} "
            "items (column comp); abilities compare only within a component"
        )
    if report["isolated_items"]:
        summary += f"\nno comparisons (no ability): {', '.join(report['isolated_items'])}"
    if report["self_comparisons_ignored"]:
        summary += f"\nself-comparisons left out: {report['self_comparisons_ignored']}"
    if report["position_effect"] is not None:
        summary += (
            f"\nfirst-position effect {fmt(report['position_effect'], 3)} "
            f"(SE {fmt(report['position_se'], 3)}) logits"
        )
    if report["split_half"] is not None:
        summary += f"\nsplit-half reliability {fmt(report['split_half'], 3)}"
    return summary


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(x: float | None, digits: int = 2) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    console = Console()
    columns = ["id", "theta", "se", "wins", "losses", "n", "infit", "outfit"]
    if len(report["component_sizes"]) > 1:
        columns.append("comp")
    table = Table(title="Bradley-Terry scale")
    for col in columns:
        table.add_column(col, justify="left" if col == "id" else "right")
    for it in report["items"]:
        cells = [
            it["id"],
            fmt(it["theta"]),
            fmt(it["se"]),
            str(it["wins"]),
            str(it["losses"]),
            str(it["n"]),
            fmt(it["infit"]),
            fmt(it["outfit"]),
        ]
        if "comp" in columns:
            cells.append("-" if it["component"] is None else str(it["component"]))
        table.add_row(*cells)
    judges = Table(title="Judges")
    for col in ("judge", "n", "infit", "outfit"):
        judges.add_column(col, justify="left" if col == "judge" else "right")
    for jd in report["judges"]:
        judges.add_row(jd["judge"], str(jd["n"]), fmt(jd["infit"]), fmt(jd["outfit"]))
    console.print(_summary(report, fmt))
    console.print(table)
    console.print(judges)


def _fit(
    ds: DecisionSet, alpha: float, eps: float, position_effect: bool, se_method: SEMethod
) -> tuple[BTFit, Components]:
    """A prior identifies the whole scale; without one, fit component by component."""
    if alpha > 0:
        fit = fit_bradley_terry(
            ds.data,
            alpha=alpha,
            eps=eps,
            position_effect=position_effect,
            se_method=se_method,
            max_dense_se=DENSE_SE_LIMIT,
            item_labels=ds.item_ids,
        )
        return fit, label_components(ds.data)
    parts = fit_by_component(
        ds.data,
        eps=eps,
        position_effect=position_effect,
        se_method=se_method,
        max_dense_se=DENSE_SE_LIMIT,
        item_labels=ds.item_ids,
    )
    return parts.fit, parts.components


def _graph_notices(ds: DecisionSet, path: Path, comps: Components, alpha: float) -> list[str]:
    notes = []
    lines = ds.self_comparison_lines
    if lines:
        first = ", ".join(str(x) for x in lines[:5]) + (", ..." if len(lines) > 5 else "")
        notes.append(
            f"warning: left out {len(lines)} self-comparison(s) (a candidate compared with "
            f"itself) in {path}, on line(s) {first}; --strict refuses such files"
        )
    if comps.isolated:
        names = ", ".join(repr(ds.item_ids[i]) for i in comps.isolated[:10])
        fate = "their ability is the prior mean, 0" if alpha > 0 else "they get no ability"
        notes.append(
            f"warning: {len(comps.isolated)} candidate(s) have no comparison with another "
            f"candidate, so {fate}: {names}"
        )
    if comps.n_components > 1:
        how = (
            "their levels relative to each other come from the prior alone"
            if alpha > 0
            else "each is fitted on its own and placed as sirt::btm places it"
        )
        notes.append(
            f"note: the comparison graph has {comps.n_components} disconnected components "
            f"(sizes {', '.join(map(str, comps.sizes[:20]))}); {how}, so abilities compare "
            "only within a component"
        )
    return notes


def run_fit(
    path: Path,
    *,
    alpha: float = 0.0,
    eps: float = 0.0,
    position_effect: bool = False,
    se: str = "auto",
    split_half: int = 0,
    seed: int = 0,
    strict: bool = False,
) -> dict[str, Any]:
    """Read, validate, fit and summarise; raises :mod:`cjgrade.errors` on user mistakes.

    Notices for the user (self-comparisons left out, components, a change of SE method) are in
    the report's ``notices``; the command prints them on stderr.
    """
    if alpha < 0 or not math.isfinite(alpha):
        raise InputError("--alpha must be a non-negative number")
    if not 0.0 <= eps < 0.5:
        raise InputError("--eps must be in [0, 0.5) (sirt's default is 0.3)")
    if se not in SE_CHOICES:
        raise ConfigError(f"--se {se!r} is not one of {', '.join(SE_CHOICES)}")
    if split_half < 0:
        raise InputError("--split-half must be a non-negative number of splits")
    ds = read_decisions(path, strict=strict)
    if position_effect and not ds.has_positions:
        raise InputError(
            "--position-effect needs a 'position' column (A/B or 1/2: the slot of the chosen "
            "candidate) with at least one filled row"
        )
    se_method, se_notice = choose_se_method(se, eps, len(ds.item_ids))
    try:
        fit, comps = _fit(ds, alpha, eps, position_effect, se_method)
        theta = np.where(np.isfinite(fit.theta), fit.theta, 0.0)  # no-comparison items unused
        stats = compute_fit_statistics(
            ds.data, theta, position_effect=fit.position_effect, n_judges=len(ds.judge_ids),
            soft_variance=fit.soft_variance,
        )
        sh = None
        if split_half:
            rng = np.random.default_rng(seed)
            by: Literal["judge", "decision"] = "judge" if len(ds.judge_ids) >= 2 else "decision"
            sh = split_half_reliability(ds.data, rng, by=by, n_splits=split_half).reliability
    except (ConvergenceError, InputError) as exc:
        raise type(exc)(cli_wording(str(exc))) from exc
    notices = _graph_notices(ds, path, comps, alpha) + ([se_notice] if se_notice else [])
    return build_fit_report(ds, fit, stats, sh, comps, tuple(notices))
