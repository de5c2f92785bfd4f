"""Terminal output of the embedded-mode commands: the progress bar, the summary table and the
plan. Progress goes to stderr so stdout stays clean for piping."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cjgrade.engine.progress import Progress as EngineProgress

__all__ = ["RichProgress", "print_plan", "print_summary", "quality_banner"]

_err = Console(stderr=True)
_out = Console(soft_wrap=True)


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


class RichProgress:
    """Comparisons done / budget, current SSR and cost so far, as a Rich progress bar."""

    def __init__(self, console: Console | None = None) -> None:
        console = console or _err
        self._console = console
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("SSR {task.fields[ssr]} (posterior {task.fields[rel]})"),
            TextColumn("cost {task.fields[cost]}"),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self._task: Any = None

    def __enter__(self) -> RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def on_created(self, batch_uuid: str) -> None:
        self._console.print(
            f"batch [bold]{batch_uuid}[/bold] (resume with `cjgrade resume {batch_uuid}`)"
        )

    def on_progress(self, p: EngineProgress) -> None:
        fields: dict[str, Any] = {
            "ssr": "-" if p.ssr is None else ("<0" if p.ssr < 0 else f"{p.ssr:.2f}"),
            "rel": "-" if p.reliability is None else f"{p.reliability:.2f}",
            "cost": _money(p.cost_usd),
            "failed": f"{p.failed} failed" if p.failed else "",
        }
        if self._task is None:
            self._task = self._bar.add_task("comparisons", total=p.budget, completed=p.done,
                                            **fields)
        else:
            self._bar.update(self._task, completed=p.done, total=p.budget, **fields)

    def render(self) -> Any:
        """What the bar shows now (a Rich renderable)."""
        return self._bar.get_renderable()


def quality_banner(quality: dict[str, Any], has_grades: bool) -> Panel | None:
    """A red panel for a degenerate result, a yellow one for warnings; None when ok."""
    status = quality.get("status")
    if status not in ("degenerate", "warning"):
        return None
    reasons = "\n".join(f"- {escape(r['message'])} [dim]({r['code']})[/dim]"
                        for r in quality.get("reasons") or [])
    if status == "warning":
        return Panel(reasons, title="[bold]caution: the result passed with warnings",
                     border_style="yellow", expand=False)
    head = ("[bold]The grades of this run are NOT reliable. Do not use them.[/bold]"
            if has_grades else "[bold]The scale of this run carries no usable information.")
    return Panel(f"{head}\n{reasons}", title="[bold red]DEGENERATE RESULT",
                 border_style="red", expand=False)


def print_summary(run: Any, paths: dict[str, Path]) -> None:
    """The quality banner, the run's essays (rank, theta, SE, grade) and totals, then where
    the outputs are."""
    r = run.result
    judge = r.judge + ("" if not r.judge.startswith(("heuristic/", "sim/", "scripted"))
                       else " (not an LLM)")
    quality = getattr(r, "quality", None) or {}
    reliable = quality.get("status") != "degenerate"
    banner = quality_banner(quality, bool(r.grades.get("available")))
    if banner is not None:
        _out.print(banner, soft_wrap=False)  # wrap the reasons inside the panel
    table = Table(title=f"{r.label or r.batch_uuid}: {r.status} ({r.stop_reason})")
    for col in ("rank", "essay", "anchor", "theta", "SE", "n",
                "grade" if reliable else "grade (NOT RELIABLE)", "p"):
        table.add_column(col, justify="right" if col in ("rank", "theta", "SE", "n", "p")
                         else "left")
    for e in sorted(r.essays, key=lambda e: e.rank):
        grade = e.grade.grade if e.grade else ""
        prob = f"{e.grade.probabilities.get(e.grade.grade, 0):.2f}" if e.grade else ""
        if grade and not reliable:
            grade = f"[strike red]{escape(grade)}[/strike red]"
        table.add_row(str(e.rank), escape(e.essay_id), escape(e.anchor_grade or ""),
                      f"{e.theta:.2f}", f"{e.se:.2f}", str(e.n_comparisons), grade, prob)
    _out.print(table)
    rel = r.reliability
    _out.print(
        f"judge {judge} | comparisons {r.n_succeeded} ok, {r.n_failed} failed | "
        f"SSR {rel.get('ssr') if rel.get('ssr') is None else round(rel['ssr'], 3)} | "
        f"cost {_money(r.total_cost_usd)}"
    )
    for line in r.costs:
        _out.print(f"  {line.provider}/{line.model}: {line.comparisons} comparisons, "
                   f"{line.input_tokens} in / {line.output_tokens} out tokens, "
                   f"{_money(line.cost_usd)}")
    if r.failure_reason:
        _out.print(f"[red]failed: {r.failure_reason}[/red]")
    if quality:
        colour = {"ok": "green", "warning": "yellow"}.get(quality["status"], "bold red")
        codes = ", ".join(x["code"] for x in quality.get("reasons") or [])
        _out.print(f"quality: [{colour}]{quality['status']}[/{colour}]"
                   + (f" ({codes})" if codes else "")
                   + ("" if reliable else " - grades NOT reliable, see the report"))
    for kind, path in paths.items():
        _out.print(f"{kind}: {path}")
    _out.print(f"batch uuid: {r.batch_uuid} (database {run.database})")


def print_plan(plan: Any, output_format: str) -> None:
    if output_format == "json":
        sys.stdout.write(json.dumps(plan.to_dict(), indent=2) + "\n")
        return
    table = Table(title=f"plan: {plan.label or '-'}", show_header=False)
    table.add_column("item")
    table.add_column("value")
    rows = [
        ("judge", f"{plan.judge} ({plan.judge_display})"),
        ("students / anchors", f"{plan.n_students} / {plan.n_anchors}"),
        ("anchors by grade", ", ".join(f"{g}: {n}" for g, n in plan.anchors_by_grade.items())
         or "-"),
        ("files", ", ".join(f"{k} x{v}" for k, v in plan.file_types.items())),
        ("grade scale", f"{plan.grade_scale} (grades {'on' if plan.grades_requested else 'off'})"),
        ("budget", f"{plan.budget} comparisons, {plan.comparisons_per_essay:.1f} per essay"),
        ("rounds", f"up to {plan.max_rounds} of {plan.round_size} ({plan.strategy} pairing)"),
        ("stopping", ", ".join(f"{k}={v}" for k, v in plan.stopping.items())),
        ("tokens per comparison", f"~{plan.input_tokens_per_comparison} in, "
         f"~{plan.output_tokens_per_comparison} out"),
        ("estimated cost", f"{_money(plan.cost_per_comparison_usd)} per comparison, "
         f"{_money(plan.cost_total_usd)} for the budget"),
        ("validation", "ok: nothing written, no judge called"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    _out.print(table)
    for w in plan.warnings:
        _out.print(f"[yellow]warning:[/yellow] {w}")
