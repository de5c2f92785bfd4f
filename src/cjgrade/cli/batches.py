"""``cjgrade batches submit|list|show|watch|cancel|export``: batches through the API.

The server is found as by ``cjgrade admin`` (``--api-url`` > ``CJGRADE_API_URL`` > config >
``http://127.0.0.1:8000``; ``--token`` > ``CJGRADE_TOKEN`` > config). ``submit`` needs a
token of role admin or runner, the others any role. ``export`` can also read a batch straight
from a database (``--database-url``), e.g. one ``cjgrade run`` wrote to SQLite: the same
artefact, reports and tables either way. See docs/batches.md.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import typer

from cjgrade.cli.admin import ApiUrlOpt, JsonOpt, TokenOpt, _print_json, _with_client
from cjgrade.engine.options import option_help
from cjgrade.errors import ConfigError

__all__ = ["register"]

batches_app = typer.Typer(
    name="batches",
    help="Submit batches to a cjgrade server, follow them, cancel them, export their results.",
    no_args_is_help=True,
)
STATUSES = ("created", "running", "finalising", "completed", "failed", "cancelled")
EXIT_NOT_COMPLETED = 8
"""Exit code of ``watch`` when the batch failed or was cancelled (as ``cjgrade run``'s
failed batch)."""


def register(app: typer.Typer) -> None:
    """Add ``cjgrade batches`` to the root app."""
    app.add_typer(batches_app, name="batches")


def _overrides(**flags: Any) -> dict[str, Any]:
    return {k: v for k, v in flags.items() if v is not None}


@batches_app.command("submit")
def submit_command(
    folder: Path = typer.Argument(..., help="An input folder (as for `cjgrade run`), or with "
                                  "--assignment-id a folder of student essays."),
    assignment_id: str | None = typer.Option(
        None, "--assignment-id", help="Run on a stored assignment: its instructions, scale and "
        "anchors; FOLDER (or FOLDER/students) holds the student essays only."),
    judge: str | None = typer.Option(None, "--judge", help="PROVIDER/MODEL (default: judge in "
                                     "config.toml)."),
    budget: int | None = typer.Option(None, "--budget", help=option_help("budget")),
    target_reliability: float | None = typer.Option(
        None, "--target-reliability", "--target-ssr", help=option_help("target_reliability")),
    strategy: str | None = typer.Option(None, "--strategy", help=option_help("strategy")),
    seed: int | None = typer.Option(None, "--seed", help=option_help("seed")),
    round_size: int | None = typer.Option(None, "--round-size", help=option_help("round_size")),
    no_grades: bool = typer.Option(False, "--no-grades", help="Rank only; project no grades."),
    label: str | None = typer.Option(None, "--label", help="Human label of the batch."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server."),
    watch: bool = typer.Option(False, "--watch", help="Follow the batch until it ends."),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Submit a batch; prints its uuid (stdout) and the plan's warnings (stderr)."""
    from cjgrade.cli.batches_view import body_from_assignment_folder, body_from_folder
    from cjgrade.cli.run import _judge_name, _read_folder
    from cjgrade.config import load_settings

    flags = _overrides(budget=budget, target_reliability=target_reliability, strategy=strategy,
                       seed=seed,
                       round_size=round_size)
    if assignment_id is None:
        input_folder = _read_folder(folder, flags, None, load_settings().scales_file)
        name = _judge_name(judge, input_folder.judge)

        async def build(client: Any) -> dict[str, Any]:
            return await body_from_folder(client, input_folder, judge=name,
                                          grades=not no_grades and input_folder.grades_requested,
                                          label=label, base_url=base_url or input_folder.base_url)
    else:
        name = _judge_name(judge, None)
        from cjgrade.cli.batches_view import student_files

        student_files(folder)  # a bad folder is refused before anything is uploaded

        async def build(client: Any) -> dict[str, Any]:
            return await body_from_assignment_folder(
                client, folder, assignment_id=assignment_id, judge=name, grades=not no_grades,
                label=label, options=flags, base_url=base_url)

    async def action(client: Any) -> Any:
        return await client.submit_batch(await build(client))

    batch = _with_client(api_url, token, action)
    if as_json:
        _print_json(batch)
    else:
        typer.echo(batch.batch_uuid)
        typer.echo(f"submitted: {batch.n_students} students, {batch.n_anchors} anchors, "
                   f"{batch.comparisons_planned} comparisons planned, judge {batch.judge}"
                   + (f", estimated cost ${batch.cost_estimate_usd:.2f}"
                      if batch.cost_estimate_usd is not None else ""), err=True)
        for warning in batch.warnings:
            typer.echo(f"warning: {warning}", err=True)
        typer.echo(f"follow it with `cjgrade batches watch {batch.batch_uuid}`", err=True)
    if watch:
        _watch(batch.batch_uuid, api_url, token, interval=2.0, timeout=None)


@batches_app.command("list")
def list_command(
    status: str | None = typer.Option(None, "--status", help=f"Only one of {', '.join(STATUSES)}."),
    page: int = typer.Option(1, "--page", min=1),
    page_size: int = typer.Option(20, "--page-size", min=1, max=200),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Batches, newest first, one line each: uuid, status, progress, reliability, cost."""
    from cjgrade.cli.batches_view import progress_line

    if status is not None and status not in STATUSES:
        raise ConfigError(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
    result = _with_client(api_url, token, lambda c: c.list_batches(
        page=page, page_size=page_size, status=status))
    if as_json:
        _print_json(result)
        return
    for item in result.items:
        typer.echo(progress_line(item))
    pages = max(1, -(-result.total // result.page_size))
    typer.echo(f"page {result.page} of {pages}, {result.total} batch(es)", err=True)


@batches_app.command("show")
def show_command(
    batch_uuid: str = typer.Argument(..., help="The batch uuid."),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A batch and where it stands."""
    from cjgrade.cli.batches_view import print_batch

    batch = _with_client(api_url, token, lambda c: c.get_batch(batch_uuid))
    if as_json:
        _print_json(batch)
    else:
        print_batch(batch)


@batches_app.command("watch")
def watch_command(
    batch_uuid: str = typer.Argument(..., help="The batch uuid."),
    interval: float = typer.Option(2.0, "--interval", min=0.1, help="Seconds between polls."),
    timeout: float | None = typer.Option(None, "--timeout", min=0.0,
                                         help="Give up after this many seconds (exit 1)."),
    retry_for: float = typer.Option(
        120.0, "--retry-for", min=0.0,
        help="Once the server has answered: how long to keep polling while it does not "
             "(a restart, a deployment); the batch goes on meanwhile. Then exit 2."),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Follow a batch until it ends: a live progress view on a terminal, one line per change
    otherwise. Exit 0 when it completed, 8 when it failed or was cancelled."""
    _watch(batch_uuid, api_url, token, interval=interval, timeout=timeout, retry_for=retry_for)


def _watch(batch_uuid: str, api_url: str | None, token: str | None, *, interval: float,
           timeout: float | None, retry_for: float = 120.0) -> None:
    from cjgrade.api.client import ApiClient, ApiServerError, ApiUnreachable
    from cjgrade.cli.batches_view import TERMINAL, progress_line, watch_table
    from cjgrade.config import load_settings

    settings = load_settings(api_url=api_url, token=token)
    live_view = sys.stderr.isatty()

    async def follow() -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        async with ApiClient.from_settings(settings) as client:
            live = None
            if live_view:
                from rich.console import Console
                from rich.live import Live

                batch = await client.get_batch(batch_uuid)
                live = Live(watch_table(batch), console=Console(stderr=True),
                            refresh_per_second=4)
                live.start()

            def say(text: str) -> None:
                if live is not None:
                    live.console.print(text)
                else:
                    typer.echo(text, err=True)

            down_since: float | None = None
            try:
                while True:
                    try:
                        batch = await client.get_batch(batch_uuid)
                    except (ApiUnreachable, ApiServerError) as exc:
                        # never answered: a wrong address or server, said at once
                        if last is None and live is None:
                            raise
                        now = time.monotonic()
                        if down_since is None:
                            down_since = now
                            say(f"the API does not answer ({exc}); polling again for up to "
                                f"{retry_for:g} s (--retry-for); the batch goes on meanwhile")
                        elif now - down_since > retry_for:
                            raise
                        if deadline is not None and now >= deadline:
                            raise typer.Exit(1) from None
                        await asyncio.sleep(interval)
                        continue
                    if down_since is not None:
                        say(f"the API answers again after "
                            f"{time.monotonic() - down_since:.0f} s")
                        down_since = None
                    line = progress_line(batch)
                    if live is not None:
                        live.update(watch_table(batch))
                    elif line != last:
                        typer.echo(line, err=True)
                    last = line
                    if batch.status in TERMINAL:
                        return batch
                    if deadline is not None and time.monotonic() >= deadline:
                        raise typer.Exit(1)
                    await asyncio.sleep(interval)
            finally:
                if live is not None:
                    live.stop()

    batch = asyncio.run(follow())
    typer.echo(progress_line(batch))
    if batch.status != "completed":
        raise typer.Exit(EXIT_NOT_COMPLETED)
    typer.echo(f"export it with `cjgrade batches export {batch_uuid} --out DIR`", err=True)


@batches_app.command("cancel")
def cancel_command(
    batch_uuid: str = typer.Argument(..., help="The batch uuid."),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Cancel a batch: no further round is requested (calls already sent may still finish)."""
    from cjgrade.cli.batches_view import progress_line

    typer.echo(progress_line(_with_client(api_url, token, lambda c: c.cancel_batch(batch_uuid))))


@batches_app.command("export")
def export_command(
    batch_uuid: str = typer.Argument(..., help="The batch uuid."),
    out: Path = typer.Option(..., "--out", help="Output folder (created; files replaced)."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Read the batch from this database instead of the API "
        "(e.g. the SQLite file of `cjgrade run`).", show_default=False),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Write the artefact (assessment_run.json), report.md, report.html and the CSV tables
    essays.csv, comparisons.csv and projections.csv of a finished batch, and the same tables
    as Parquet when pyarrow is installed (pip install 'cjgrade\\[parquet]')."""
    from cjgrade.cli.run_checks import check_output_dir
    from cjgrade.reports.export import write_export

    check_output_dir(out)
    if database_url is not None:
        doc = asyncio.run(_artefact_from_database(database_url, batch_uuid))
    else:
        doc = _with_client(api_url, token, lambda c: c.get_batch_artefact(batch_uuid))
    export = write_export(doc, out)
    for kind, path in export.paths.items():
        typer.echo(f"{kind}: {path}")
    for notice in export.notices:
        typer.echo(f"note: {notice}", err=True)
    meta = doc["metadata"]
    typer.echo(f"batch {batch_uuid} ({meta['mode']}, {meta['status']}, quality "
               f"{doc['quality']['status']}) exported to {out}", err=True)


async def _artefact_from_database(database_url: str, batch_uuid: str) -> dict[str, Any]:
    from cjgrade.config import load_settings
    from cjgrade.reports.export import batch_artefact
    from cjgrade.store import open_store

    store = await open_store(load_settings(database_url=database_url))
    try:
        return await batch_artefact(store, batch_uuid)
    finally:
        await store.close()
