"""``cjgrade admin ...``: assignments, prompts, rubrics, anchors, scales (over the API) and
tokens (directly in the database).

API commands find the server with ``--api-url`` > ``CJGRADE_API_URL`` > ``api_url`` in the
config file > ``http://127.0.0.1:8000`` and authenticate with ``--token`` > ``CJGRADE_TOKEN`` >
``token`` in the config file. ``token create|list|revoke`` open the database themselves
(``--database-url`` > ``DATABASE_URL`` / ``CJGRADE_DB_*`` > config > SQLite under
``CJGRADE_HOME``): the first admin token cannot come from an API that needs a token, and
whoever may mint tokens must have database access anyway.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from cjgrade.errors import InputError

__all__ = ["register"]

T = TypeVar("T")
DOC_TYPES = ".txt, .md, .docx or .pdf"

admin_app = typer.Typer(
    name="admin",
    help="Manage assignments, prompts, rubrics, anchors, scales (via the API) and API tokens.",
    no_args_is_help=True,
)
instructions_app = typer.Typer(help="Assessment instructions (assignments).", no_args_is_help=True)
prompts_app = typer.Typer(help="Student prompts of assignments.", no_args_is_help=True)
rubrics_app = typer.Typer(help="Judge rubrics of assignments.", no_args_is_help=True)
anchors_app = typer.Typer(help="Anchor essays of assignments.", no_args_is_help=True)
scales_app = typer.Typer(help="Grade scales.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (talks to the database directly).", no_args_is_help=True)

for _sub, _name in (
    (instructions_app, "instructions"),
    (prompts_app, "prompts"),
    (rubrics_app, "rubrics"),
    (anchors_app, "anchors"),
    (scales_app, "scales"),
    (token_app, "token"),
):
    admin_app.add_typer(_sub, name=_name)


def register(app: typer.Typer) -> None:
    """Add ``cjgrade admin`` to the root app."""
    app.add_typer(admin_app, name="admin")


# -- shared options and plumbing ---------------------------------------------------------------

ApiUrlOpt = typer.Option(
    None,
    "--api-url",
    help="API root (default: CJGRADE_API_URL, config api_url, http://127.0.0.1:8000).",
    show_default=False,
)
TokenOpt = typer.Option(
    None, "--token", help="Bearer token (default: CJGRADE_TOKEN, config token).", show_default=False
)
JsonOpt = typer.Option(False, "--json", help="Print the API's JSON instead of a summary.")
DbUrlOpt = typer.Option(
    None,
    "--database-url",
    help="Database (default: DATABASE_URL / CJGRADE_DB_* / config / SQLite in CJGRADE_HOME).",
    show_default=False,
)


def _with_client(
    api_url: str | None, token: str | None, action: Callable[[Any], Awaitable[T]]
) -> T:
    from cjgrade.api.client import ApiClient
    from cjgrade.config import load_settings

    settings = load_settings(api_url=api_url, token=token)

    async def run() -> T:
        async with ApiClient.from_settings(settings) as client:
            return await action(client)

    return asyncio.run(run())


def _read_text(file: Path | None, text: str | None, what: str, flag: str) -> str:
    """The text of ``--...-file`` or ``--...-text``. A file is read by the reader ``cjgrade
    run`` uses (:func:`cjgrade.runner.documents.read_document`: .txt, .md, .docx, .pdf; only
    regular files, at most 10 MB); inline text passes the same text checks."""
    from cjgrade.display import printable
    from cjgrade.runner.documents import check_text, read_document

    if (file is None) == (text is None):
        raise InputError(f"give the {what} with exactly one of {flag}-file or {flag}-text")
    if text is not None:
        return check_text(text, f"{what} ({flag}-text)")
    assert file is not None
    try:
        return read_document(file).text
    except InputError as exc:
        raise InputError(f"{what} file {printable(exc, keep_newlines=True)}") from None


def _print_json(model: Any) -> None:
    if isinstance(model, list):
        typer.echo(json.dumps([m.model_dump(mode="json") for m in model], indent=2))
    else:
        typer.echo(model.model_dump_json(indent=2))


# -- instructions ------------------------------------------------------------------------------


@instructions_app.command("create")
def instructions_create(
    assignment_id: str = typer.Option(..., "--assignment-id", help="Assignment id (slug/UUID)."),
    grade_scale: str = typer.Option(..., "--grade-scale", help="See `cjgrade admin scales list`."),
    instructions_file: Path | None = typer.Option(
        None, "--instructions-file", help=f"Instructions ({DOC_TYPES})."
    ),
    instructions_text: str | None = typer.Option(
        None, "--instructions-text", help="Instructions inline (or use --instructions-file)."
    ),
    context_origin: str = typer.Option(
        "research_experiment", "--context-origin", help="research_experiment | canonical_national"
    ),
    name: str | None = typer.Option(None, "--name", help="Optional unique human name (slug)."),
    prompt_file: Path | None = typer.Option(None, "--prompt-file", help="Student prompt file."),
    prompt_text: str | None = typer.Option(None, "--prompt-text", help="Student prompt inline."),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create or replace an assignment's instructions (upsert), optionally with its prompt."""
    text = _read_text(instructions_file, instructions_text, "instructions", "--instructions")
    prompt = None
    if prompt_file is not None or prompt_text is not None:
        prompt = _read_text(prompt_file, prompt_text, "student prompt", "--prompt")

    async def action(client: Any) -> Any:
        # The prompt goes up first as content and is linked in the same upsert, so a bad
        # prompt cannot leave a half-configured assignment behind.
        prompt_id = await client.upload_content(prompt) if prompt is not None else None
        return await client.upsert_instructions(
            assignment_id,
            text,
            grade_scale,
            context_origin=context_origin,
            name=name,
            student_prompt_storage_id=prompt_id,
        )

    record = _with_client(api_url, token, action)
    if as_json:
        _print_json(record)
        return
    typer.echo(
        f"assignment {record.assignment_id} saved: scale {record.grade_scale}, "
        f"origin {record.context_origin}, "
        f"prompt {'yes' if record.student_prompt_storage_id else 'no'}, "
        f"rubric {'yes' if record.judge_rubric_storage_id else 'no'}"
    )


@instructions_app.command("list")
def instructions_list(
    grade_scale: str | None = typer.Option(None, "--grade-scale", help="Only this scale."),
    page: int = typer.Option(1, "--page", min=1),
    page_size: int = typer.Option(20, "--page-size", min=1, max=200),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """List assignments, one per line: id, scale, origin, name."""
    result = _with_client(
        api_url,
        token,
        lambda c: c.list_instructions(page=page, page_size=page_size, grade_scale=grade_scale),
    )
    if as_json:
        _print_json(result)
        return
    for item in result.items:
        typer.echo(
            f"{item.assignment_id}\t{item.grade_scale}\t{item.context_origin}\t{item.name or '-'}"
        )
    pages = max(1, -(-result.total // result.page_size))
    typer.echo(f"page {result.page} of {pages}, {result.total} assignment(s)", err=True)


@instructions_app.command("get")
def instructions_get(
    assignment_id: str = typer.Argument(
        ..., help="Assignment id (`cjgrade admin instructions list` shows ids with names)."
    ),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Print one assignment as JSON."""
    _print_json(_with_client(api_url, token, lambda c: c.get_instructions(assignment_id)))


@instructions_app.command("delete")
def instructions_delete(
    assignment_id: str = typer.Argument(..., help="Assignment id."),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Delete an assignment and its anchors (refused while batches use it)."""
    _with_client(api_url, token, lambda c: c.delete_instructions(assignment_id))
    typer.echo(f"assignment {assignment_id} deleted")


# -- prompts and rubrics -------------------------------------------------------------------------


def _text_commands(group: typer.Typer, what: str, upload: str, get: str) -> None:
    @group.command("upload")
    def upload_cmd(
        assignment_id: str = typer.Option(..., "--assignment-id"),
        file: Path | None = typer.Option(None, "--file", help=f"The {what} ({DOC_TYPES})."),
        text: str | None = typer.Option(None, "--text", help=f"The {what} inline."),
        api_url: str | None = ApiUrlOpt,
        token: str | None = TokenOpt,
    ) -> None:
        body = _read_text(file, text, what, "-")
        stored = _with_client(api_url, token, lambda c: getattr(c, upload)(assignment_id, body))
        typer.echo(f"{what} of {stored.assignment_id} stored as {stored.storage_id}")

    upload_cmd.__doc__ = f"Store the {what} of an assignment (replaces the previous one)."

    @group.command("get")
    def get_cmd(
        assignment_id: str = typer.Argument(...),
        api_url: str | None = ApiUrlOpt,
        token: str | None = TokenOpt,
    ) -> None:
        stored = _with_client(api_url, token, lambda c: getattr(c, get)(assignment_id))
        typer.echo(stored.text)

    get_cmd.__doc__ = f"Print the {what} of an assignment."


_text_commands(prompts_app, "student prompt", "upload_student_prompt", "get_student_prompt")
_text_commands(rubrics_app, "judge rubric", "upload_judge_rubric", "get_judge_rubric")


# -- anchors and scales ------------------------------------------------------------------------


@anchors_app.command("register")
def anchors_register(
    assignment_id: str = typer.Option(..., "--assignment-id"),
    grade: str = typer.Option(..., "--grade", help="A grade on the assignment's scale."),
    file: Path | None = typer.Option(None, "--file", help=f"The anchor essay ({DOC_TYPES})."),
    text: str | None = typer.Option(None, "--text", help="The anchor essay inline."),
    label: str | None = typer.Option(None, "--label", help="Anchor label (default: file stem)."),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
) -> None:
    """Register (or replace) one anchor essay; unique on (assignment, label, scale)."""
    essay = _read_text(file, text, "anchor essay", "-")
    if label is None:
        if file is None:
            raise InputError("give --label when the essay comes from --text")
        label = file.stem
    result = _with_client(
        api_url, token, lambda c: c.register_anchor(assignment_id, grade, label, essay)
    )
    typer.echo(
        f"anchor {label} ({grade}, {result.grade_scale}) {result.status} for {assignment_id}: "
        f"id {result.anchor_id}, content {result.storage_id}"
    )


@anchors_app.command("list")
def anchors_list(
    assignment_id: str = typer.Argument(...),
    api_url: str | None = ApiUrlOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """An assignment's anchors in its scale, and counts under every scale."""
    summary = _with_client(api_url, token, lambda c: c.get_anchors(assignment_id))
    if as_json:
        _print_json(summary)
        return
    by_scale = ", ".join(f"{k}: {v}" for k, v in sorted(summary.anchor_count_by_scale.items()))
    typer.echo(
        f"{summary.assignment_id} ({summary.grade_scale}): {summary.anchor_count} anchor(s) "
        f"in scale, {summary.anchor_count_total} in total ({by_scale or 'none'})"
    )
    for anchor in summary.anchors:
        typer.echo(f"{anchor.anchor_label}\t{anchor.grade}\t{anchor.text_storage_id}")


@scales_app.command("list")
def scales_list(
    api_url: str | None = ApiUrlOpt, token: str | None = TokenOpt, as_json: bool = JsonOpt
) -> None:
    """Grade scales the server knows, grades low to high."""
    scales = _with_client(api_url, token, lambda c: c.list_scales())
    if as_json:
        _print_json(scales)
        return
    for scale in scales:
        below = f" (below lowest: {scale.below_lowest_grade})" if scale.below_lowest_grade else ""
        typer.echo(f"{scale.scale_id}\t{' '.join(scale.grades)}{below}")


# -- tokens (database) -----------------------------------------------------------------------------


def _with_store(database_url: str | None, action: Callable[[Any], Awaitable[T]]) -> T:
    from cjgrade.config import load_settings
    from cjgrade.store import open_store

    settings = load_settings(database_url=database_url)

    async def run() -> T:
        store = await open_store(settings)
        try:
            async with store.transaction() as session:
                return await action(session)
        finally:
            await store.close()

    return asyncio.run(run())


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., "--role", help="admin | runner | read"),
    name: str = typer.Option("cli", "--name", help="A label to recognise the token by."),
    database_url: str | None = DbUrlOpt,
) -> None:
    """Create a token and print it once (stdout); only its hash is stored."""
    from cjgrade.store import create_token

    record, secret = _with_store(database_url, lambda s: create_token(s, name, role))
    typer.echo(
        f"created {record.role} token {record.id} ({record.name}); it is shown once, "
        "store it now (e.g. export CJGRADE_TOKEN=...)",
        err=True,
    )
    typer.echo(secret)


@token_app.command("list")
def token_list(
    database_url: str | None = DbUrlOpt,
    active_only: bool = typer.Option(False, "--active", help="Hide revoked tokens."),
) -> None:
    """Tokens (never their secrets): id, role, name, created, state, last used."""
    from cjgrade.store import list_tokens

    records = _with_store(database_url, lambda s: list_tokens(s, include_revoked=not active_only))
    for r in records:
        state = "active" if r.revoked_at is None else f"revoked {r.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
        used = f"{r.last_used_at:%Y-%m-%dT%H:%M:%SZ}" if r.last_used_at else "never"
        typer.echo(
            f"{r.id}\t{r.role}\t{r.name}\t{r.created_at:%Y-%m-%dT%H:%M:%SZ}\t{state}\tused {used}"
        )
    if not records:
        typer.echo("no tokens; create one with `cjgrade admin token create --role admin`", err=True)


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., help="Token id from `cjgrade admin token list`."),
    database_url: str | None = DbUrlOpt,
) -> None:
    """Revoke a token: the API refuses it (401) from the next request on."""
    from cjgrade.store import revoke_token

    record = _with_store(database_url, lambda s: revoke_token(s, token_id))
    typer.echo(f"token {record.id} ({record.role}, {record.name}) revoked")
