"""CLI commands of embedded mode: ``run``, ``plan``, ``resume``, ``demo`` and ``report``.

Everything that can be wrong with the input (files, config, budget, anchors, judge, key) is
found before the database is opened or a judge is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cjgrade.engine.options import option_help
from cjgrade.errors import ConfigError

__all__ = ["register"]

DEMO_JUDGE = "heuristic/surface"


def _overrides(**flags: Any) -> dict[str, Any]:
    return {k: v for k, v in flags.items() if v is not None}


def _read_folder(  # type: ignore[no-untyped-def]
    input_dir: Path, overrides: dict[str, Any], scales_file: Path | None = None,
    default_scales_file: Path | None = None,
):
    from cjgrade.runner.grades import resolve_grade
    from cjgrade.runner.inputs import read_input_folder

    return read_input_folder(input_dir, resolve_grade=resolve_grade, option_overrides=overrides,
                             scales_file=scales_file, default_scales_file=default_scales_file)


# Batch options take their help text (and range) from their one declaration, BatchOptions.
BATCH_API_HELP = option_help("batch_api") + " `cjgrade resume` re-attaches to the batch."
SCALES_FILE_HELP = ("TOML file of user grade scales (default: scales_file in config.toml, "
                    "then scales.toml in the folder, then CJGRADE_SCALES_FILE).")


def _judge_name(flag: str | None, folder_judge: str | None) -> str:
    name = flag or folder_judge
    if not name:
        raise ConfigError(
            "no judge given: pass --judge PROVIDER/MODEL (e.g. heuristic/surface, "
            "anthropic/claude-haiku-4-5-20251001) or set judge in config.toml"
        )
    return name


def _judge_builder(allow_unknown_model: bool,  # type: ignore[no-untyped-def]
                   timeout_s: float | None = None):
    def build(name: str, base_url: str | None, cache: Any):  # type: ignore[no-untyped-def]
        from cjgrade.judges import get_judge, load_manifest
        from cjgrade.judges.manifest import split_judge_name

        # Local judges (heuristic, sim, scripted) cost nothing: no cache for them, and they
        # answer at once: no per-request timeout either.
        local = load_manifest().provider(split_judge_name(name)[0]).local
        overrides = {"timeout_s": timeout_s} if timeout_s is not None and not local else None
        return get_judge(name, base_url=base_url, allow_unknown_model=allow_unknown_model,
                         cache=None if local else cache, policy_overrides=overrides)

    return build


TIMEOUT_HELP = ("Seconds to wait for one judge request before it counts as failed (and is "
                "retried); default 120.")


def _timeout_s(value: float | None) -> float | None:
    """``--timeout`` checked: a finite number of seconds above 0 (None: the default)."""
    import math

    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"--timeout must be a number of seconds above 0, not {value}")
    return value


def _settings(database_url: str | None):  # type: ignore[no-untyped-def]
    from cjgrade.config import load_settings

    return load_settings(database_url=database_url)


def _write_outputs(run: Any, out_dir: Path) -> dict[str, Path]:
    from cjgrade.engine.inventory import run_mode
    from cjgrade.reports import build_artefact, validate_artefact, write_artefact, write_reports

    doc = build_artefact(run.result, run.inputs, mode=run_mode(run.inputs))
    validate_artefact(doc)
    paths = {"artefact": write_artefact(doc, out_dir)}
    paths.update(write_reports(doc, out_dir))
    return paths


def _execute(coro_factory: Any, out: Path | None, default_out: Path | None,
             resume_flags: str = "") -> None:
    from cjgrade.cli.run_checks import check_output_dir, execute_run
    from cjgrade.cli.run_view import RichProgress, print_summary

    # Before the first judge call: a bad --out must not surface after the batch is paid for.
    check_output_dir(out or default_out or Path("runs"))
    run, paths = execute_run(
        coro_factory, lambda run: out or default_out or Path("runs") / run.result.batch_uuid,
        write=_write_outputs, display=RichProgress(), resume_flags=resume_flags)
    print_summary(run, paths)
    if run.result.status == "failed":
        raise typer.Exit(8)


def run_command(
    input_dir: Path = typer.Argument(..., help="Folder with instructions.md, anchors/, students/."),
    judge: str | None = typer.Option(None, "--judge", help="PROVIDER/MODEL (heuristic/surface)."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL."),
    budget: int | None = typer.Option(None, "--budget", help=option_help("budget")),
    target_reliability: float | None = typer.Option(
        None, "--target-reliability", "--target-ssr", help=option_help("target_reliability")),
    target_se: float | None = typer.Option(None, "--target-se", help=option_help("target_se")),
    strategy: str | None = typer.Option(None, "--strategy", help=option_help("strategy")),
    seed: int | None = typer.Option(None, "--seed", help=option_help("seed")),
    concurrency: int | None = typer.Option(None, "--concurrency",
                                           help=option_help("concurrency")),
    no_grades: bool = typer.Option(False, "--no-grades", help="Rank only; project no grades."),
    label: str | None = typer.Option(None, "--label", help="Human label of the batch."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default runs/UUID)."),
    database_url: str | None = typer.Option(None, "--database-url", help="Store URL."),
    allow_unknown_model: bool = typer.Option(False, "--allow-unknown-model"),
    scales_file: Path | None = typer.Option(None, "--scales-file", help=SCALES_FILE_HELP),
    batch_api: bool = typer.Option(False, "--batch-api", help=BATCH_API_HELP),
    poll_interval: float | None = typer.Option(
        None, "--poll-interval", help=option_help("poll_interval_s")),
    timeout: float | None = typer.Option(None, "--timeout", help=TIMEOUT_HELP),
) -> None:
    """Run a comparative-judgement batch on a folder of essays, in this process."""
    from dataclasses import replace

    timeout_s = _timeout_s(timeout)

    from cjgrade.engine.embedded import run_embedded
    from cjgrade.runner.folder_spec import spec_from_folder

    settings = _settings(database_url)
    folder = _read_folder(input_dir, _overrides(
        budget=budget, target_reliability=target_reliability, target_se=target_se,
        strategy=strategy, seed=seed,
        concurrency=concurrency, batch_api=batch_api or None, poll_interval_s=poll_interval,
    ), scales_file, settings.scales_file)
    from cjgrade.cli.run_checks import check_base_url

    check_base_url(base_url or folder.base_url,
                   "--base-url" if base_url else "base_url in config.toml")
    spec = spec_from_folder(folder, judge=_judge_name(judge, folder.judge),
                            base_url=base_url or folder.base_url,
                            grades_requested=False if no_grades else None)
    if label:
        spec = replace(spec, label=label)
    # The plan `cjgrade plan` prints: the same refusals, warnings and cost estimate.
    from cjgrade.cli.run_view import print_preflight
    from cjgrade.runner.planning import plan_batch

    print_preflight(plan_batch(spec, allow_unknown_model=allow_unknown_model,
                               warnings=folder.warnings))

    def start(progress: Any) -> Any:
        return run_embedded(spec, build_judge=_judge_builder(allow_unknown_model, timeout_s),
                            target=settings, progress=progress,
                            on_created=progress.on_created)

    from cjgrade.cli.run_checks import resume_flags

    _execute(start, out, None, resume_flags(database_url))


def demo_command(
    out: Path = typer.Option(Path("cjgrade-demo"), "--out", help="Output folder."),
) -> None:
    """The main job on embedded defaults: bundled sample essays, heuristic (non-LLM) judge,
    SQLite in the output folder, in-process bus. No network, no keys."""
    from importlib import resources

    from cjgrade.engine.embedded import run_embedded
    from cjgrade.runner.folder_spec import spec_from_folder

    root = Path(str(resources.files("cjgrade.data").joinpath("sample")))
    folder = _read_folder(root, {})
    spec = spec_from_folder(folder, judge=DEMO_JUDGE)
    from cjgrade.cli.run_checks import check_output_dir, resume_flags

    check_output_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    db = f"sqlite+aiosqlite:///{(out / 'demo.sqlite3').resolve()}"

    def start(progress: Any) -> Any:
        return run_embedded(spec, build_judge=_judge_builder(False), target=db,
                            progress=progress, on_created=progress.on_created)

    _execute(start, out, out, resume_flags(db))


def resume_command(
    batch_uuid: str = typer.Argument(..., help="The batch uuid `cjgrade run` printed."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default runs/UUID)."),
    base_url: str | None = typer.Option(None, "--base-url", help="Override the judge URL."),
    database_url: str | None = typer.Option(None, "--database-url", help="Store URL."),
    allow_unknown_model: bool = typer.Option(False, "--allow-unknown-model"),
    timeout: float | None = typer.Option(None, "--timeout", help=TIMEOUT_HELP),
) -> None:
    """Continue a batch whose process died: stored verdicts are reused, none is asked twice."""
    timeout_s = _timeout_s(timeout)
    from cjgrade.cli.run_checks import check_base_url, resume_flags
    from cjgrade.engine.embedded import resume_embedded

    check_base_url(base_url)
    settings = _settings(database_url)

    def start(progress: Any) -> Any:
        return resume_embedded(batch_uuid,
                               build_judge=_judge_builder(allow_unknown_model, timeout_s),
                               target=settings, progress=progress, base_url=base_url,
                               on_created=progress.on_created)

    _execute(start, out, None, resume_flags(database_url))


def plan_command(
    input_dir: Path = typer.Argument(..., help="Folder with instructions.md, anchors/, students/."),
    judge: str | None = typer.Option(None, "--judge", help="PROVIDER/MODEL for the estimate."),
    budget: int | None = typer.Option(None, "--budget", help=option_help("budget")),
    strategy: str | None = typer.Option(None, "--strategy", help=option_help("strategy")),
    no_grades: bool = typer.Option(False, "--no-grades", help="Rank only; project no grades."),
    allow_unknown_model: bool = typer.Option(False, "--allow-unknown-model"),
    output_format: str = typer.Option("table", "--format", help="table or json."),
    scales_file: Path | None = typer.Option(None, "--scales-file", help=SCALES_FILE_HELP),
    batch_api: bool = typer.Option(False, "--batch-api", help="Price at the batch-API rate."),
) -> None:
    """Inventory, validation, capacity and cost estimate. Writes nothing, calls no judge."""
    from cjgrade.cli.run_view import print_plan
    from cjgrade.runner.folder_spec import spec_from_folder
    from cjgrade.runner.planning import plan_batch

    if output_format not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {output_format!r}")
    folder = _read_folder(input_dir, _overrides(budget=budget, strategy=strategy,
                                                batch_api=batch_api or None), scales_file,
                          _settings(None).scales_file)
    spec = spec_from_folder(folder, judge=_judge_name(judge, folder.judge),
                            grades_requested=False if no_grades else None)
    plan = plan_batch(spec, allow_unknown_model=allow_unknown_model, warnings=folder.warnings)
    print_plan(plan, output_format)


def report_command(
    run_dir: Path = typer.Argument(..., help="A run folder (assessment_run.json, or an "
                                   "eng5-np-run folder's assessment_run.<mode>.json) or the "
                                   "artefact file."),
) -> None:
    """Re-render report.md and report.html from an artefact (checksum verified first)."""
    from cjgrade.reports import write_reports
    from cjgrade.reports.runner_section import load_for_report

    doc, folder = load_for_report(run_dir)
    for kind, path in write_reports(doc, folder).items():
        typer.echo(f"{kind}: {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("run")(run_command)
    app.command("plan")(plan_command)
    app.command("resume")(resume_command)
    app.command("demo")(demo_command)
    app.command("report")(report_command)
