"""The ``eng5-np-run`` console script: the ENG5 NP research runner.

``eng5-np-run [MAIN OPTIONS]`` runs ``--mode`` (plan, dry-run, execute, anchor-align-test,
boundary-test); ``eng5-np-run [MAIN OPTIONS] register-anchors ASSIGNMENT_ID [--anchor-dir]``
and ``eng5-np-run [MAIN OPTIONS] preflight`` are subcommands. Main options given before a
subcommand are used by it (the original parsed and then ignored them). Every flag is declared
once, in :class:`cjgrade.runner.eng5.settings.Eng5Settings`; this module only parses and
dispatches, importing the mode's module lazily. Exit codes: :mod:`cjgrade.runner.eng5.exit_codes`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from cjgrade.errors import CJGradeError, ConfigError

__all__ = ["app", "main", "run_cli"]

app = typer.Typer(
    name="eng5-np-run",
    help="ENG5 NP runner: plan, dry-run, execute, anchor-align-test, boundary-test; "
         "register-anchors and preflight subcommands. Exit codes: 0 ok, 2 usage, 3 validation, "
         "5 judge/service failure, 9 batch completed but extraction failed, 10 timeout with "
         "partial data, 130 interrupted.",
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_O = typer.Option


@app.callback(invoke_without_command=True)
def main_options(
    ctx: typer.Context,
    mode: str | None = _O(None, "--mode", help="plan (default), dry-run, execute, "
                          "anchor-align-test or boundary-test (case-insensitive)."),
    input_dir: Path | None = _O(None, "--input-dir", help="The ENG5 asset folder (default: "
                                "test_uploads/ANCHOR ESSAYS/ROLE_MODELS_ENG5_NP_2016 under the "
                                "working directory) or a cjgrade input folder."),
    assignment_id: str | None = _O(None, "--assignment-id", help="A stored assignment: execute "
                                   "is then student-only against its registered anchors."),
    course_id: str | None = _O(None, "--course-id", help="Course id (recorded)."),
    course_code: str | None = _O(None, "--course-code", help="ENG5 (default), ENG6, ENG7, SV1, "
                                 "SV2 or SV3."),
    language: str | None = _O(None, "--language", help="en (default) or sv; tells the judge "
                              "the essays' language."),
    batch_id: str | None = _O(None, "--batch-id", help="Human label of the run (not an id: "
                              "the batch uuid is made per run)."),
    expected_grade_scale: str | None = _O(None, "--expected-grade-scale",
                                          help="Fail unless the run's grade scale is this."),
    max_comparisons: int | None = _O(None, "--max-comparisons", help="Comparison budget "
                                     "(at least 2)."),
    await_completion: bool = _O(False, "--await-completion", help="Kafka mode: wait for the "
                                "batch to finish and collect its events."),
    completion_timeout: float | None = _O(None, "--completion-timeout", help="Cluster execute: "
                                          "seconds to wait with --await-completion (default "
                                          "1800; refused embedded)."),
    auto_extract_eng5_db: bool = _O(False, "--auto-extract-eng5-db", help="Export the batch's "
                                    "rows (from its artefact) to db_extract/ (JSON and CSV)."),
    force_reupload: bool = _O(False, "--force-reupload", help="Cluster execute: ignore the "
                              "upload cache (refused embedded)."),
    output_dir: Path | None = _O(None, "--output-dir", help="Runs go to OUTPUT_DIR/BATCH_UUID/ "
                                 "(default ./eng5_runs)."),
    database_url: str | None = _O(None, "--database-url", help="Store of an embedded run "
                                  "(default: the configured store; refused on a cluster)."),
    llm_provider: str | None = _O(None, "--llm-provider", help="anthropic, openai, openrouter, "
                                  "heuristic, sim, scripted (the manifest's providers)."),
    llm_model: str | None = _O(None, "--llm-model", help="Model of the provider, checked "
                               "against the manifest (`cjgrade judges list`)."),
    llm_base_url: str | None = _O(None, "--llm-base-url", help="An OpenAI- or "
                                  "Anthropic-compatible server."),
    llm_temperature: float | None = _O(None, "--llm-temperature", help="0.0-2.0 (0.0 is kept)."),
    llm_max_tokens: int | None = _O(None, "--llm-max-tokens", help="Output tokens per verdict."),
    reasoning_effort: str | None = _O(None, "--reasoning-effort", help="none, low, medium, "
                                      "high."),
    output_verbosity: str | None = _O(None, "--output-verbosity", help="low, medium, high "
                                      "(OpenAI)."),
    system_prompt: Path | None = _O(None, "--system-prompt", help="System prompt file."),
    rubric: Path | None = _O(None, "--rubric", help="Judge rubric file (refused for a "
                             "canonical_national assignment)."),
    llm_batching_mode: str | None = _O(None, "--llm-batching-mode", help="per_request "
                                       "(default) or provider_batch_api (half price, slower)."),
    verbose: bool = _O(False, "--verbose", help="DEBUG log file in the run folder."),
    kafka_bootstrap: str | None = _O(None, "--kafka-bootstrap", help="Execute on a running "
                                     "cluster (default: KAFKA_BOOTSTRAP_SERVERS)."),
    api_url: str | None = _O(None, "--api-url", help="cjgrade API (default: CJGRADE_API_URL); "
                             "with it or a token, --assignment-id is resolved through the API."),
    token: str | None = _O(None, "--token", help="API token (default: CJGRADE_TOKEN)."),
    boundary_pairs: str | None = _O(None, "--boundary-pairs", help="HIGHER:LOWER[,...] "
                                    "(boundary-test)."),
    boundary_iterations: int | None = _O(None, "--boundary-iterations", help="Repeats per pair "
                                         "and order (boundary-test, default 10)."),
    artefact_format: str | None = _O(None, "--artefact-format", help="cjgrade (default) or "
                                     "huleedu-1.0 (also writes the original's shape)."),
    anchor_dir: Path | None = _O(None, "--anchor-dir", help="Anchor folder (instead of "
                                 "anchor_essays/)."),
) -> None:
    """Run a mode, or keep the options for a subcommand."""
    flags = {k: v for k, v in locals().items() if k != "ctx"}
    flags["api_token"] = flags.pop("token")
    for name in ("await_completion", "auto_extract_eng5_db", "force_reupload", "verbose"):
        flags[name] = flags[name] or None  # False: not given (a subcommand may set it)
    if ctx.invoked_subcommand is not None:
        if mode is not None:
            raise ConfigError(f"--mode {mode} and the {ctx.invoked_subcommand} subcommand do not "
                              "go together; give one of them")
        ctx.obj = flags
        return
    raise typer.Exit(dispatch(flags))


@app.command("register-anchors")
def register_anchors(
    ctx: typer.Context,
    assignment_id: str = typer.Argument(..., metavar="ASSIGNMENT_ID",
                                        help="The assignment to register anchors for."),
    anchor_dir: Path | None = _O(None, "--anchor-dir", help="Folder of anchor files (default: "
                                 "anchor_essays/ of --input-dir)."),
    expected_grade_scale: str | None = _O(None, "--expected-grade-scale"),
    api_url: str | None = _O(None, "--api-url"),
    token: str | None = _O(None, "--token"),
) -> None:
    """Register every file of the anchor folder with its grade (CSV or file-name suffix)."""
    flags = _subcommand_flags(ctx, "register-anchors", assignment_id=assignment_id,
                              anchor_dir=anchor_dir, expected_grade_scale=expected_grade_scale,
                              api_url=api_url, api_token=token)
    raise typer.Exit(dispatch(flags))


@app.command("preflight")
def preflight(
    ctx: typer.Context,
    api_url: str | None = _O(None, "--api-url"),
    token: str | None = _O(None, "--token"),
) -> None:
    """Check database, API, token and role, broker, judge credentials and model."""
    flags = _subcommand_flags(ctx, "preflight", api_url=api_url, api_token=token)
    raise typer.Exit(dispatch(flags))


def _subcommand_flags(ctx: typer.Context, mode: str, **own: Any) -> dict[str, Any]:
    """Main options (given before the subcommand) merged with the subcommand's own; the same
    option given in both places with different values is an error."""
    flags = dict(ctx.obj or {})
    for key, value in own.items():
        if value is None:
            continue
        if flags.get(key) is not None and flags[key] != value:
            raise ConfigError(f"--{key.replace('_', '-')} is given twice with different values "
                              f"({flags[key]!r} before {mode}, {value!r} after it)")
        flags[key] = value
    flags["mode"] = mode
    return flags


def _environment_defaults(flags: dict[str, Any]) -> dict[str, Any]:
    """``KAFKA_BOOTSTRAP_SERVERS``, ``CJGRADE_API_URL``, ``CJGRADE_TOKEN`` (and the config
    file), as the admin CLI reads them, under the flags. ``api_url`` stays None when only the
    built-in default applies (see :func:`cjgrade.runner.eng5.api_prepare.api_configured`)."""
    from cjgrade.config import DEFAULT_API_URL, load_settings

    config = load_settings(api_url=flags.get("api_url"), token=flags.get("api_token"))
    out = dict(flags)
    # Left unset when only the built-in default applies: an API URL given on purpose (or a
    # token) makes the embedded modes resolve --assignment-id through the API.
    explicit = flags.get("api_url") or config.api_url != DEFAULT_API_URL
    out["api_url"] = config.api_url if explicit else None
    out["api_token"] = config.token
    if out.get("kafka_bootstrap") is None:
        out["kafka_bootstrap"] = config.kafka_bootstrap_servers
    return out


def dispatch(flags: dict[str, Any]) -> int:
    """Validate the flags into settings and run the mode; returns its exit code."""
    from cjgrade.runner.eng5.settings import Eng5Settings, load_mode

    settings = Eng5Settings.from_flags(**_environment_defaults(flags))
    return load_mode(settings.mode)(settings)


def run_cli(argv: list[str] | None = None) -> int:
    """Run the app and return the exit code (usage errors 2, runner errors by kind)."""
    from cjgrade.display import printable
    from cjgrade.runner.eng5 import exit_codes

    try:
        app(args=argv, standalone_mode=True, prog_name="eng5-np-run")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return exit_codes.OK
        if isinstance(code, int):
            return code
        typer.echo(str(code), err=True)
        return exit_codes.INTERNAL
    except CJGradeError as exc:
        typer.secho(f"error: {printable(exc, keep_newlines=True)}", err=True,
                    fg=typer.colors.RED)
        return exit_codes.exit_code_for(exc)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return exit_codes.INTERRUPTED
    return exit_codes.OK


def main() -> None:
    sys.exit(run_cli())
