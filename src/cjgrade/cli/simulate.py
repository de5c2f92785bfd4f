"""``cjgrade simulate``: compare pairing strategies against a simulated judge.

For each strategy and seed, true abilities are drawn, rounds in which every essay is compared
about once are judged by the simulated judge, and the scale is refitted after every round. The
table reports, per strategy, the median comparisons per essay needed to reach Spearman >= 0.9
with the true abilities and reliability >= 0.8, the reliabilities at the round Spearman
reached 0.9 (SSR, the posterior-sampled reliability cjgrade reports, and the truth-based
reliability: squared correlation with the true abilities), and the mean gap between each
reliability estimate and the truth-based one. See ``docs/statistics-pairing.md``.

JSON output (``--format json``)::

    {"scenario": {...}, "seeds": [...], "strategies": [{"strategy", "to_spearman", ...}, ...]}

Undefined figures (a target never reached on most seeds) are ``null``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import typer

from cjgrade.errors import ConfigError

FORMATS = ("table", "json")
DEFAULT_STRATEGIES = "random,coverage,adaptive,default"

MAX_ESSAYS = 2_000
"""Memory and time grow with the square of the essays (2,000: about 250 MB and seconds a
round; 5,000: about 750 MB and minutes); the engine's own benchmarks stop at 2,000 too."""
MAX_SEEDS = 1_000
MAX_ROUNDS = 1_000
MAX_SEED_VALUE = 2**32 - 1


def check_sizes(essays: int, seeds: int, first_seed: int, max_rounds: int) -> None:
    """Refuse sizes the simulation cannot run (a MemoryError after minutes, a negative seed)
    before anything is allocated, each with the limit and the flag to change.

    Raises
    ------
    ConfigError
        A size outside its limit.
    """
    limits = (
        ("--essays", essays, 4, MAX_ESSAYS, "memory and time grow with the square of the essays"),
        ("--seeds", seeds, 1, MAX_SEEDS, "each seed is a full run per strategy"),
        ("--max-rounds", max_rounds, 1, MAX_ROUNDS, "a round compares every essay about once"),
    )
    for flag, value, low, high, why in limits:
        if not low <= value <= high:
            raise ConfigError(
                f"{flag} {value} is outside {low:,}-{high:,} ({why}); choose {flag} between "
                f"{low:,} and {high:,}"
            )
    last = first_seed + seeds - 1
    if first_seed < 0 or last > MAX_SEED_VALUE:
        raise ConfigError(
            f"--first-seed {first_seed} with --seeds {seeds} gives seeds outside 0-"
            f"{MAX_SEED_VALUE:,}; choose --first-seed between 0 and {MAX_SEED_VALUE - seeds + 1:,}"
        )


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _parse_strategies(text: str) -> list[str]:
    from cjgrade.stats.pairing import STRATEGIES

    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise ConfigError("--strategies names no strategy; e.g. random,coverage,default")
    unknown = [s for s in names if s not in STRATEGIES or s == "anchor"]
    if unknown:
        allowed = ", ".join(s for s in STRATEGIES if s != "anchor")
        raise ConfigError(f"unknown strategy {unknown[0]!r} in --strategies; use {allowed}")
    return names


def build_report(scenario: Any, seeds: list[int], summaries: tuple[Any, ...]) -> dict[str, Any]:
    """The JSON-ready comparison (pure)."""
    rows = []
    for s in summaries:
        row = {
            k: (_num(v) if isinstance(v, float) else v) for k, v in dataclasses.asdict(s).items()
        }
        rows.append(row)
    return {"scenario": dataclasses.asdict(scenario), "seeds": seeds, "strategies": rows}


def _paired_cell(diff: float | None, se: float | None) -> str:
    if diff is None or se is None:
        return "-"
    return f"{diff:+.2f}±{se:.2f}"


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(x: float | None, digits: int = 1, signed: bool = False) -> str:
        if x is None:
            return "-"
        return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"

    sc = report["scenario"]
    title = (
        f"{sc['n_essays']} essays, true SD {sc['sd']}, {len(report['seeds'])} seeds, "
        f"judge noise {sc['noise']}, position bias {sc['position_bias']}, lapse {sc['lapse']}"
    )
    if sc["outcome"] != "hard":
        title += (f", {sc['outcome']} outcomes (belief noise {sc['belief_noise']}, "
                  f"power {sc['power']})")
    table = Table(title=title, caption="comparisons per essay are medians over seeds")
    rho, rel = sc["spearman_target"], sc["reliability_target"]
    cols = (
        f"strategy|n to rho {rho}|mean|vs first|n to SSR {rel}|n to rel {rel}|SSR at rho"
        "|rel at rho"
        "|truth at rho|rel gap|SSR gap|SH gap|EB gap|cover|info"
    ).split("|")
    for i, col in enumerate(cols):
        widest = {0: 8, 3: 11}.get(i)  # strategy names and "-2.33±0.23" stay on one line
        table.add_column(
            col, justify="left" if i == 0 else "right", min_width=widest, no_wrap=widest is not None
        )
    for r in report["strategies"]:
        table.add_row(
            r["strategy"],
            fmt(r["to_spearman"]),
            fmt(r["to_spearman_mean"], 2),
            _paired_cell(r["vs_baseline"], r["vs_baseline_se"]),
            fmt(r["to_ssr"]),
            fmt(r["to_reported"]),
            fmt(r["ssr_at_spearman"], 3),
            fmt(r["reported_at_spearman"], 3),
            fmt(r["truth_at_spearman"], 3),
            fmt(r["reported_gap"], 3, signed=True),
            fmt(r["ssr_gap"], 3, signed=True),
            fmt(r["split_half_gap"], 3, signed=True),
            fmt(r["posterior_gap"], 3, signed=True),
            fmt(r["coverage"], 3),
            fmt(r["information_to_spearman"], 3),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    console.print(table)
    console.print(
        "n = comparisons per essay (median over seeds; mean: unreached runs count as"
        " max-rounds + 1); vs first = mean paired difference from the first strategy on the"
        " same seeds, ± its standard error;\nrel = posterior-sampled reliability"
        " (what cjgrade reports); truth = squared correlation of the estimates with the true"
        " abilities;\ngap = mean (reliability - truth) over rounds from round 5; SH ="
        " split-half; EB = empirical-Bayes (Laplace) posterior reliability;\ncover = share of"
        " true abilities inside the 95% intervals (rounds from 5); info = mean p(1-p)"
        " of the comparisons (at the true abilities) up to the round Spearman reached its"
        " target."
    )


def simulate(
    essays: int = typer.Option(30, "--essays", help="Number of essays."),
    sd: float = typer.Option(1.5, "--sd", help="SD of the true abilities (logits)."),
    seeds: int = typer.Option(2, "--seeds", help="Number of seeds (runs per strategy)."),
    first_seed: int = typer.Option(0, "--first-seed", help="First seed; seeds are consecutive."),
    strategies: str = typer.Option(
        DEFAULT_STRATEGIES, "--strategies", help="Comma-separated pairing strategies."
    ),
    max_rounds: int = typer.Option(20, "--max-rounds", help="Rounds at most per run."),
    noise: float = typer.Option(1.0, "--noise", help="Judge noise (logit divisor, 1 = BT)."),
    position_bias: float = typer.Option(
        0.0, "--position-bias", help="Log-odds advantage of the essay shown first."
    ),
    lapse: float = typer.Option(0.0, "--lapse", help="Probability of a random answer."),
    outcome: str = typer.Option(
        "hard", "--outcome",
        help="What the judge reports: hard (Bernoulli wins), winner (the side of a noisy"
        " belief), sampled (a side drawn from the belief), logprob (p_a from the belief) or"
        " confidence (a stated confidence 1-5).",
    ),
    belief_noise: float = typer.Option(
        1.0, "--belief-noise", help="SD of the judge's belief noise on the logit scale."
    ),
    power: float = typer.Option(
        1.0, "--power",
        help="Confidence power: 2 states squared odds (over-confident), 0.5 their square root.",
    ),
    no_reliability: bool = typer.Option(
        False,
        "--no-reliability",
        help="Skip the sampled and split-half reliabilities (pairing figures only; faster).",
    ),
    output_format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Compare pairing strategies against a simulated judge with known abilities."""
    from cjgrade.stats.simulation import Scenario, compare_strategies

    if output_format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}")
    check_sizes(essays, seeds, first_seed, max_rounds)
    from cjgrade.stats.simulation_judge import OUTCOMES

    if outcome not in OUTCOMES:
        raise ConfigError(f"--outcome must be one of {', '.join(OUTCOMES)}")
    names = _parse_strategies(strategies)
    scenario = Scenario(
        n_essays=essays,
        sd=sd,
        noise=noise,
        position_bias=position_bias,
        lapse=lapse,
        outcome=outcome,
        belief_noise=belief_noise,
        power=power,
        max_rounds=max_rounds,
    )
    seed_list = list(range(first_seed, first_seed + seeds))
    summaries = compare_strategies(
        scenario, names, seed_list, estimate_reliability=not no_reliability
    )
    report = build_report(scenario, seed_list, summaries)
    if output_format == "json":
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_table(report)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the root app."""
    app.command("simulate")(simulate)
