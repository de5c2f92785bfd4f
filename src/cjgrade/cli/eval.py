"""``cjgrade eval DATASET``: the grades a judge gives through the product, against human scores.

Per essay set: anchors per human score level, a sample of students, a real batch through the
engine (pairing, stopping, grade projection), then agreement with the human scores, beside the
baseline judges (see ``docs/evaluation.md``). Everything is checked before the first judge
call. ``--format json`` prints the report document of :func:`cjgrade.evaluation.report.summarise`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from cjgrade.errors import ConfigError, JudgeError

FORMATS = ("table", "json", "markdown")
DEFAULT_BASELINES = "heuristic,random,length,scores"


def _setups(judge: str | None, baselines: str, *, base_url: str | None,
            allow_unknown_model: bool, belief_noise: float, hard: bool) -> list[Any]:
    from cjgrade.evaluation.run import BASELINES, JudgeSetup

    setups = []
    if judge:
        setups.append(JudgeSetup(label=judge, name=judge, base_url=base_url,
                                 allow_unknown_model=allow_unknown_model,
                                 belief_noise=belief_noise, soft=not hard))
    elif base_url:
        raise ConfigError("--base-url needs --judge openai/<served model>")
    kinds = [] if baselines.strip().lower() == "none" else [
        k.strip() for k in baselines.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baselines {unknown}; use any of {', '.join(BASELINES)} "
                          "(comma-separated), or none")
    for kind in dict.fromkeys(kinds):
        setup = JudgeSetup.baseline(kind, belief_noise=belief_noise, soft=not hard)
        if kind in ("heuristic", "scores") and setup.name == judge:
            continue  # the judge under evaluation is this baseline already
        setups.append(setup)
    return setups


def _progress(total: int) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   console=Console(stderr=True), transient=True)
    batches = bar.add_task("batches", total=total)
    current = bar.add_task("comparisons", total=None)

    class Listener:
        def on_progress(self, p: Any) -> None:
            bar.update(current, completed=p.done, total=p.budget)

    def start(job: Any) -> Listener:
        bar.update(current, completed=0, total=None,
                   description=f"set {job.design.essay_set} · {job.setup.label}")
        return Listener()

    def done(job: Any, figures: Any) -> None:
        bar.advance(batches)

    return bar, start, done


def run_eval(dataset: Path, *, judge: str | None, baselines: str, sets: list[str] | None,
             students: int, anchors_per_level: int, seeds: int, seed: int,
             budget_per_essay: float | None, budgets: str | None, belief_noise: float,
             hard: bool, base_url: str | None, allow_unknown_model: bool, concurrency: int,
             show_progress: bool = True) -> dict[str, Any]:
    """Check everything, run every batch, return the report document."""
    from cjgrade.evaluation.datasets import load_dataset
    from cjgrade.evaluation.plan import parse_budgets, plan_evaluation, run_plan
    from cjgrade.evaluation.report import summarise
    from cjgrade.evaluation.run import check_judge

    if budget_per_essay is not None and budgets is not None:
        raise ConfigError("give --budget-per-essay or --budgets, not both")
    if budget_per_essay is not None and not budget_per_essay > 0:
        raise ConfigError("--budget-per-essay must be a positive number")
    budget_list: tuple[float | None, ...] = parse_budgets(budgets) or (budget_per_essay,)
    setups = _setups(judge, baselines, base_url=base_url,
                     allow_unknown_model=allow_unknown_model, belief_noise=belief_noise,
                     hard=hard)
    for setup in setups:  # an unknown model or a missing key fails before the data is read
        check_judge(setup)
    essays = load_dataset(dataset)
    plan = plan_evaluation(essays, setups, sets=sets, students=students,
                           anchors_per_level=anchors_per_level, seeds=seeds, first_seed=seed,
                           budgets=budget_list, concurrency=concurrency)
    if show_progress:
        bar, start, done = _progress(len(plan.jobs))
        with bar:
            figures, stopped = asyncio.run(run_plan(plan, concurrency=concurrency,
                                                    progress=start, on_done=done))
    else:
        figures, stopped = asyncio.run(run_plan(plan, concurrency=concurrency))
    meta = {
        "dataset": str(dataset),
        "judges": [s.label for s in setups],
        "sets": list(plan.sets),
        "seeds": list(plan.seeds),
        "students": students,
        "anchors_per_level": anchors_per_level,
        "budgets_per_essay": list(budget_list),
        "sim_scores": {"belief_noise": belief_noise, "outcomes": "hard" if hard else "soft"},
        "stopped": stopped,
    }
    return summarise(figures, meta=meta)


def _print_table(doc: dict[str, Any]) -> None:
    """One table per judge and budget, one row per set (and overall)."""
    from rich.console import Console
    from rich.table import Table

    from cjgrade.evaluation.report import table_rows

    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console = Console(soft_wrap=True, width=220)
    header, cells = table_rows(doc)
    console.print(f"Grades through the product vs human scores: {doc['students']} students "
                  f"per set, {doc['anchors_per_level']} anchors per score level, "
                  f"{len(doc['seeds'])} seed(s) (mean ± SD over seeds)")
    groups: dict[tuple[str, str], list[list[str]]] = {}
    for row in cells:
        groups.setdefault((row[0], row[1]), []).append(row[2:])
    for (judge, budget), rows in groups.items():
        table = Table(title=f"{judge} · budget: {budget}", title_justify="left")
        for i, col in enumerate(header[2:]):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print("* QWK quantile uses the human score distribution (not what a user gets).")
    unanchored = {row["essay_set"]: row["unanchored_levels"] for row in doc["rows"]
                  if row.get("unanchored_levels")}
    for essay_set, levels in unanchored.items():
        console.print(f"set {essay_set}: score levels without anchors (fewer essays than "
                      f"--anchors-per-level): {levels}")
    if doc["stopped"]:
        console.print(f"[bold red]stopped early:[/] {doc['stopped']}")


def _write_out(doc: dict[str, Any], out: Path) -> None:
    from cjgrade.evaluation.plot import budget_svg
    from cjgrade.evaluation.report import markdown_table

    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    markdown = markdown_table(doc)
    plot_set = "overall" if len(doc["sets"]) > 1 else doc["sets"][0]
    svg = budget_svg(doc, essay_set=plot_set)
    if svg:
        (out / "budget.svg").write_text(svg, encoding="utf-8")
        markdown += "\n![Budget study](budget.svg)\n"
    (out / "eval.md").write_text(markdown, encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Add ``cjgrade eval`` to the root app."""

    @app.command("eval")
    def eval_command(
        dataset: Path = typer.Argument(..., help="Scored essays: a CSV id,text,score[,set]"
                                                 "[,rater2], an ASAP-AES TSV, or a folder of "
                                                 "text files with scores.csv."),
        judge: str | None = typer.Option(None, "--judge", help="PROVIDER/MODEL to evaluate."),
        baselines: str = typer.Option(DEFAULT_BASELINES, "--baselines",
                                      help="Baseline judges in the same table, comma-separated "
                                           "(heuristic, random, length, scores) or none."),
        essay_set: list[str] | None = typer.Option(None, "--set", help="Essay set(s); "
                                                   "repeatable. Default: all."),
        students: int = typer.Option(40, "--students", help="Students sampled per set."),
        anchors_per_level: int = typer.Option(2, "--anchors-per-level",
                                              help="Anchors per human score level."),
        seeds: int = typer.Option(1, "--seeds", help="Repetitions with other samples and "
                                                     "pairings (mean and spread)."),
        seed: int = typer.Option(0, "--seed", help="First seed."),
        budget_per_essay: float | None = typer.Option(
            None, "--budget-per-essay", help="Comparisons per essay, spent to the end "
                                             "(default: the engine's stopping rules)."),
        budgets: str | None = typer.Option(None, "--budgets", help="Budget study: budgets per "
                                                                   "essay, e.g. 5,10,20,40."),
        belief_noise: float = typer.Option(1.0, "--belief-noise",
                                           help="sim/scores: SD of the belief noise (logits)."),
        hard: bool = typer.Option(False, "--hard", help="sim/scores: hard outcomes instead of "
                                                        "soft probabilities."),
        base_url: str | None = typer.Option(None, "--base-url",
                                            help="OpenAI-compatible server URL."),
        allow_unknown_model: bool = typer.Option(False, "--allow-unknown-model",
                                                 help="Run a model missing from the manifest "
                                                      "(cost reported as unknown)."),
        concurrency: int = typer.Option(8, "--max-concurrency", help="Judge calls in flight."),
        fmt: str = typer.Option("table", "--format", help="table, json or markdown."),
        out: Path | None = typer.Option(None, "--out", help="Also write eval.json, eval.md "
                                                            "and budget.svg here."),
    ) -> None:
        """Grades through the product (anchors, engine, projection) vs human scores."""
        if fmt not in FORMATS:
            raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        if out is not None and out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file; give a folder")
        doc = run_eval(dataset, judge=judge, baselines=baselines, sets=essay_set or None,
                       students=students, anchors_per_level=anchors_per_level, seeds=seeds,
                       seed=seed, budget_per_essay=budget_per_essay, budgets=budgets,
                       belief_noise=belief_noise, hard=hard, base_url=base_url,
                       allow_unknown_model=allow_unknown_model, concurrency=concurrency)
        if out is not None:
            _write_out(doc, out)
        if fmt == "json":
            typer.echo(json.dumps(doc, indent=2))
        elif fmt == "markdown":
            from cjgrade.evaluation.report import markdown_table

            typer.echo(markdown_table(doc))
        else:
            _print_table(doc)
        if doc["stopped"]:
            raise JudgeError(f"evaluation stopped early: {doc['stopped']}")
