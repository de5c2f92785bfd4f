"""``cjgrade fit``: fit Bradley-Terry to a decisions CSV and print the scale.

The command's work lives in :mod:`cjgrade.cli.fit_report`, imported when the command runs, so
that starting ``cjgrade`` does not load numpy and scipy. JSON output is described there.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cjgrade.errors import ConfigError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``cjgrade fit`` to the root app."""

    @app.command("fit")
    def fit_command(
        decisions: Path = typer.Argument(
            ...,
            help="CSV with judge,candidate_chosen,candidate_not_chosen "
            "[,p_chosen][,position (A/B or 1/2: slot of the chosen candidate)].",
        ),
        alpha: float = typer.Option(
            0.0, "--alpha", help="Gaussian prior precision on abilities (0 = maximum likelihood)."
        ),
        eps: float = typer.Option(
            0.0,
            "--eps",
            help="sirt-compatible score adjustment (sirt::btm default 0.3); keeps all-win and "
            "all-loss items finite, and fits a disconnected comparison graph component by "
            "component, placed as sirt::btm places them.",
        ),
        position_effect: bool = typer.Option(
            False, "--position-effect", help="Estimate a first-position (slot A) effect."
        ),
        se: str = typer.Option(
            "auto",
            "--se",
            help="Standard errors: auto|fisher|diagonal|none. fisher: exact, sum-to-zero; "
            "diagonal: sirt's se.theta (memory-linear); none: skip. auto = diagonal with --eps "
            "(sirt-compatible) or above 6,000 items (with a notice), fisher otherwise.",
        ),
        split_half: int = typer.Option(
            0, "--split-half", help="Also report split-half reliability over N random splits."
        ),
        seed: int = typer.Option(0, "--seed", help="Random seed for --split-half."),
        fmt: str = typer.Option("json", "--format", help="json or table."),
        strict: bool = typer.Option(
            False,
            "--strict",
            help="Refuse a file with self-comparisons (a candidate compared with itself) "
            "instead of leaving them out with a warning.",
        ),
    ) -> None:
        """Fit a Bradley-Terry scale to comparative-judgement decisions."""
        from cjgrade.cli.fit_report import FORMATS, print_table, run_fit

        if fmt not in FORMATS:
            raise ConfigError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
        report = run_fit(
            decisions,
            alpha=alpha,
            eps=eps,
            position_effect=position_effect,
            se=se,
            split_half=split_half,
            seed=seed,
            strict=strict,
        )
        for notice in report["notices"]:
            typer.echo(notice, err=True)
        if fmt == "json":
            typer.echo(json.dumps(report, indent=2))
        else:
            print_table(report)
