"""``cjgrade eval DATASET``: a judge's agreement with human scores via CJ on samples.

JSON output (``--format json``)::

    {"dataset", "judge", "sample", "comparisons_per_essay", "seed", "alpha",
     "sets": [{"essay_set", "n_essays", "n_comparisons", "n_failed", "qwk", "spearman",
               "human_qwk", "score_min", "score_max"}, ...],
     "mean_qwk", "mean_spearman", "cost": {...per provider/model...}}
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from cjgrade.errors import ConfigError

FORMATS = ("table", "json")


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


def run_eval(dataset: Path, judge_name: str, *, sets: list[int] | None, sample: int,
             comparisons_per_essay: int, seed: int, alpha: float, base_url: str | None,
             allow_unknown_model: bool, max_concurrency: int | None) -> dict[str, Any]:
    """Validate everything, run the evaluation and return the JSON-ready report."""
    from cjgrade.judges.evaluation import evaluate_judge, load_scored_essays, sample_sets
    from cjgrade.judges.registry import get_judge

    if comparisons_per_essay < 1:
        raise ConfigError("--comparisons-per-essay must be at least 1")
    if alpha <= 0:
        raise ConfigError("--alpha must be positive (a small prior keeps every fit finite)")
    essays = load_scored_essays(dataset)
    sample_sets(essays, sets=sets, sample=sample, seed=seed)  # validate before any judging
    overrides = {"max_concurrency": max_concurrency} if max_concurrency else None
    judge = get_judge(judge_name, base_url=base_url, allow_unknown_model=allow_unknown_model,
                      policy_overrides=overrides)

    async def go() -> Any:
        try:
            return await evaluate_judge(judge, essays, sets=sets, sample=sample,
                                        comparisons_per_essay=comparisons_per_essay,
                                        seed=seed, alpha=alpha)
        finally:
            await judge.aclose()

    results = asyncio.run(go())
    rows = [{k: (_num(v) if isinstance(v, float) else v) for k, v in asdict(r).items()}
            for r in results]
    qwks = [r.qwk for r in results if math.isfinite(r.qwk)]
    rhos = [r.spearman for r in results if math.isfinite(r.spearman)]
    return {
        "dataset": str(dataset),
        "judge": judge.name,
        "sample": sample,
        "comparisons_per_essay": comparisons_per_essay,
        "seed": seed,
        "alpha": alpha,
        "sets": rows,
        "mean_qwk": _num(sum(qwks) / len(qwks)) if qwks else None,
        "mean_spearman": _num(sum(rhos) / len(rhos)) if rhos else None,
        "cost": judge.ledger.as_dict(),
    }


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    table = Table(title=f"{report['judge']} vs human scores "
                        f"({report['sample']} essays/set, ~{report['comparisons_per_essay']} "
                        "comparisons/essay)")
    for col in ("set", "essays", "comparisons", "failed", "QWK", "Spearman", "human QWK",
                "scores"):
        table.add_column(col, justify="right")
    for row in report["sets"]:
        table.add_row(str(row["essay_set"]), str(row["n_essays"]), str(row["n_comparisons"]),
                      str(row["n_failed"]), fmt(row["qwk"]), fmt(row["spearman"]),
                      fmt(row["human_qwk"]), f"{row['score_min']}-{row['score_max']}")
    table.add_row("mean", "", "", "", fmt(report["mean_qwk"]), fmt(report["mean_spearman"]),
                  "", "")
    console = Console()
    console.print(table)
    for name, row in report["cost"].items():
        cost = "unknown" if row["cost_usd"] is None else f"${row['cost_usd']:.4f}"
        console.print(f"{name}: {row['calls']} calls, {row['failures']} failed, cost {cost}")
    if report["judge"].startswith("heuristic/"):
        console.print("heuristic/surface is a non-LLM surface-feature heuristic.")


def register(app: typer.Typer) -> None:
    """Add ``cjgrade eval`` to the root app."""

    @app.command("eval")
    def eval_command(
        dataset: Path = typer.Argument(..., help="TSV/CSV with essay_id, essay_set, essay, "
                                                 "domain1_score (ASAP-AES layout)."),
        judge: str = typer.Option("heuristic/surface", "--judge", help="provider/model."),
        essay_set: list[int] | None = typer.Option(None, "--set", help="Essay set(s); "
                                                   "repeatable. Default: all."),
        sample: int = typer.Option(40, "--sample", help="Essays sampled per set."),
        comparisons: int = typer.Option(10, "--comparisons-per-essay",
                                        help="Comparisons per essay."),
        seed: int = typer.Option(0, "--seed", help="Seed of sampling and pairing."),
        alpha: float = typer.Option(0.1, "--alpha", help="Gaussian prior precision of the fit."),
        base_url: str | None = typer.Option(None, "--base-url",
                                            help="OpenAI-compatible server URL."),
        allow_unknown_model: bool = typer.Option(False, "--allow-unknown-model",
                                                 help="Run a model missing from the manifest "
                                                      "(cost reported as unknown)."),
        max_concurrency: int | None = typer.Option(None, "--max-concurrency",
                                                   help="Calls in flight at once."),
        fmt: str = typer.Option("table", "--format", help="table or json."),
    ) -> None:
        """Agreement with human scores (QWK, Spearman) via CJ on a sample of each essay set."""
        if fmt not in FORMATS:
            raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        report = run_eval(dataset, judge, sets=essay_set or None, sample=sample,
                          comparisons_per_essay=comparisons, seed=seed, alpha=alpha,
                          base_url=base_url, allow_unknown_model=allow_unknown_model,
                          max_concurrency=max_concurrency)
        if fmt == "json":
            typer.echo(json.dumps(report, indent=2))
        else:
            _print_table(report)
