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

from cjgrade.display import printable
from cjgrade.engine.progress import Progress as EngineProgress
from cjgrade.engine.results import QualitySection
from cjgrade.judges.manifest import is_local_judge
from cjgrade.runner.planning import money

__all__ = ["RichProgress", "cost_notes", "injection_notice", "print_plan", "print_preflight",
           "print_summary", "quality_banner"]

_err = Console(stderr=True)
_out = Console(soft_wrap=True)


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def _safe(value: object) -> str:
    """Outside text (file names, labels, judge and provider messages) for Rich: control
    characters escaped (no terminal escape sequence gets through) and markup escaped."""
    return escape(printable(value))


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
            f"batch [bold]{_safe(batch_uuid)}[/bold] (resume with `cjgrade resume "
            f"{_safe(batch_uuid)}`)"
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


def quality_banner(quality: QualitySection, has_grades: bool) -> Panel | None:
    """A red panel for a degenerate result, a yellow one for warnings; None when ok."""
    status = quality.status
    if status not in ("degenerate", "warning"):
        return None
    reasons = "\n".join(f"- {_safe(r.message)} [dim]({_safe(r.code)})[/dim]"
                        for r in quality.reasons)
    if status == "warning":
        return Panel(reasons, title="[bold]caution: the result passed with warnings",
                     border_style="yellow", expand=False)
    head = ("[bold]The grades of this run are NOT reliable. Do not use them.[/bold]"
            if has_grades else "[bold]The scale of this run carries no usable information.")
    return Panel(f"{head}\n{reasons}", title="[bold red]DEGENERATE RESULT",
                 border_style="red", expand=False)


INJECTION_LISTED = 20
"""Essays the console lists by name; the reports list them all."""


def injection_notice(essays: Any) -> Panel | None:
    """A yellow panel naming the essays whose text tries to steer the judge, with what was
    found (code and sentence); None when no essay was flagged."""
    flagged = [e for e in essays if getattr(e, "injection_flags", ())]
    if not flagged:
        return None
    one = len(flagged) == 1
    lines = [f"{len(flagged)} {'essay contains' if one else 'essays contain'} text aimed at the "
             f"judge. {'It was' if one else 'They were'} judged as written (nothing removed or "
             "penalised); read before using the result:"]
    for e in flagged[:INJECTION_LISTED]:
        name = _safe(e.essay_id) + (f" ({_safe(e.file_name)})" if e.file_name
                                    and e.file_name != e.essay_id else "")
        for m in e.injection_flags:
            lines.append(f"- {name}: [bold]{_safe(m.code)}[/bold]: \"{_safe(m.phrase)}\"")
    if len(flagged) > INJECTION_LISTED:
        lines.append(f"... and {len(flagged) - INJECTION_LISTED} more essays: see the report")
    return Panel("\n".join(lines), title="[bold yellow]possible prompt injection",
                 border_style="yellow", expand=False)


def print_summary(run: Any, paths: dict[str, Path]) -> None:
    """The quality banner, the run's essays (rank, theta, SE, grade) and totals, the essays
    with text aimed at the judge, then where the outputs are."""
    r = run.result
    judge = _safe(r.judge) + (" (not an LLM)" if is_local_judge(r.judge) else "")
    quality = r.quality
    reliable = quality is None or quality.status != "degenerate"
    banner = None if quality is None else quality_banner(quality, r.grades.available)
    if banner is not None:
        _out.print(banner, soft_wrap=False)  # wrap the reasons inside the panel
    table = Table(title=_safe(f"{r.label or r.batch_uuid}: {r.status} ({r.stop_reason})"))
    for col in ("rank", "essay", "anchor", "theta", "SE", "n",
                "grade" if reliable else "grade (NOT RELIABLE)", "p"):
        table.add_column(col, justify="right" if col in ("rank", "theta", "SE", "n", "p")
                         else "left")
    for e in sorted(r.essays, key=lambda e: e.rank):
        grade = e.grade.grade if e.grade else ""
        prob = f"{e.grade.probabilities.get(e.grade.grade, 0):.2f}" if e.grade else ""
        if grade and not reliable:
            grade = f"[strike red]{_safe(grade)}[/strike red]"
        else:
            grade = _safe(grade)
        table.add_row(str(e.rank), _safe(e.essay_id), _safe(e.anchor_grade or ""),
                      f"{e.theta:.2f}", f"{e.se:.2f}", str(e.n_comparisons), grade, prob)
    _out.print(table)
    _out.print(
        f"judge {judge} | comparisons {r.n_succeeded} ok, {r.n_failed} failed | "
        f"SSR {r.ssr if r.ssr is None else round(r.ssr, 3)} | "
        f"cost {_money(r.total_cost_usd)}"
    )
    for line in r.costs:
        _out.print(f"  {_safe(line.provider)}/{_safe(line.model)}: {line.comparisons} comparisons, "
                   f"{line.input_tokens} in / {line.output_tokens} out tokens, "
                   f"{_money(line.cost_usd)}")
        for note in cost_notes(line):
            _out.print(f"    {note}")
    if r.failure_reason:
        _out.print(f"[red]failed: {_safe(r.failure_reason)}[/red]")
    notice = injection_notice(r.essays)
    if notice is not None:
        _out.print(notice, soft_wrap=False)
    if quality is not None:
        colour = {"ok": "green", "warning": "yellow"}.get(quality.status, "bold red")
        codes = ", ".join(_safe(x.code) for x in quality.reasons)
        _out.print(f"quality: [{colour}]{_safe(quality.status)}[/{colour}]"
                   + (f" ({codes})" if codes else "")
                   + ("" if reliable else " - grades NOT reliable, see the report"))
    for kind, path in paths.items():
        _out.print(f"{kind}: {_safe(path)}")
    _out.print(f"batch uuid: {_safe(r.batch_uuid)} (database {_safe(run.database)})")


def _estimate(plan: Any) -> str:
    return (f"{_safe(money(plan.cost_total_usd))} for up to {plan.budget:,} comparisons "
            f"({_safe(money(plan.cost_per_comparison_usd))} each)")


def cost_notes(line: Any) -> list[str]:
    """Why a cost line shows less (or less known) spend than its comparisons suggest."""
    notes = []
    hits = getattr(line, "cache_hits", 0)
    if hits:
        notes.append(f"{hits} of the {line.comparisons} verdicts came from the response cache: "
                     "already paid for, they cost nothing this time")
    unusable = getattr(line, "usage_unusable", 0)
    if unusable:
        notes.append(f"{unusable} verdict(s) had an unusable usage report from the server "
                     "(flag usage_unusable): their cost is unknown")
    return notes


def print_plan(plan: Any, output_format: str) -> None:
    """The plan as a table (warnings after it) or as JSON (control characters escaped by
    ``json.dumps``)."""
    if output_format == "json":
        sys.stdout.write(json.dumps(plan.to_dict(), indent=2) + "\n")
        return
    table = Table(title=f"plan: {_safe(plan.label or '-')}", show_header=False)
    table.add_column("item")
    table.add_column("value")
    window = f", context window {plan.context_window:,} tokens" if plan.context_window else ""
    rows = [
        ("judge", f"{_safe(plan.judge)} ({_safe(plan.judge_display)})"),
        ("students / anchors", f"{plan.n_students} / {plan.n_anchors}"),
        ("anchors by grade", ", ".join(f"{_safe(g)}: {n}" for g, n in plan.anchors_by_grade.items())
         or "-"),
        ("files", ", ".join(f"{_safe(k)} x{v}" for k, v in plan.file_types.items())),
        ("grade scale", f"{_safe(plan.grade_scale)} "
         f"(grades {'on' if plan.grades_requested else 'off'})"),
        ("budget", f"{plan.budget:,} comparisons, {plan.comparisons_per_essay:.1f} per essay "
         f"({plan.distinct_pairs:,} distinct pairs)"),
        ("rounds", f"up to {plan.max_rounds:,} of {plan.round_size} "
         f"({_safe(plan.strategy)} pairing)"),
        ("stopping", ", ".join(f"{k}={v}" for k, v in plan.stopping.items())),
        ("tokens per comparison", f"~{plan.input_tokens_per_comparison:,} in, "
         f"~{plan.output_tokens_per_comparison} out{window}"),
        ("estimated cost", f"[bold]{_estimate(plan)}[/bold]"),
        ("validation", "ok: nothing written, no judge called"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    _out.print(table)
    for w in plan.warnings:
        _out.print(f"[yellow]warning:[/yellow] {_safe(w)}")


def print_preflight(plan: Any, console: Console | None = None) -> None:
    """What ``cjgrade run`` prints (stderr) before it starts: the estimated cost and the
    plan's warnings, the same ones ``cjgrade plan`` gives."""
    console = console or _err
    console.print(f"estimated cost: [bold]{_estimate(plan)}[/bold] with {_safe(plan.judge)}")
    for w in plan.warnings:
        console.print(f"[yellow]warning:[/yellow] {_safe(w)}")
