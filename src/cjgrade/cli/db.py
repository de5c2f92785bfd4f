"""CLI commands: ``cjgrade db upgrade`` and ``cjgrade db current``.

The database comes from ``--database-url``, else ``DATABASE_URL`` / ``CJGRADE_DB_*``, else the
config file, else the SQLite file under ``CJGRADE_HOME``. Passwords are never printed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

DB_URL_OPTION = typer.Option(
    None,
    "--database-url",
    help="Database URL (postgresql://... or sqlite:///...); default from DATABASE_URL, "
    "CJGRADE_DB_*, the config file, or SQLite under CJGRADE_HOME.",
)
CONFIG_OPTION = typer.Option(None, "--config", help="TOML config file (default: CJGRADE_CONFIG).")


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group to the root app."""
    db = typer.Typer(help="Database schema: apply migrations, show the current revision.")
    app.add_typer(db, name="db")

    @db.command("upgrade")
    def upgrade(
        database_url: str | None = DB_URL_OPTION, config: Path | None = CONFIG_OPTION
    ) -> None:
        """Apply pending migrations (forward-only). Safe to run repeatedly."""
        typer.echo(asyncio.run(_upgrade(database_url, config)))

    @db.command("current")
    def current(
        database_url: str | None = DB_URL_OPTION, config: Path | None = CONFIG_OPTION
    ) -> None:
        """Show the database's migration revision and whether it is the newest."""
        typer.echo(asyncio.run(_current(database_url, config)))


async def _upgrade(database_url: str | None, config: Path | None) -> str:
    from cjgrade.config import load_settings
    from cjgrade.store import current_revision, open_store

    settings = load_settings(config_file=config, database_url=database_url)
    store = await open_store(settings, migrate=False, user_scales=())
    try:
        before = await current_revision(store.engine)
        from cjgrade.store import upgrade_database

        after = await upgrade_database(store.engine)
    finally:
        await store.close()
    if before == after:
        return f"{store.display_url}: already at {after} (head)"
    return f"{store.display_url}: upgraded {before or '<empty>'} -> {after} (head)"


async def _current(database_url: str | None, config: Path | None) -> str:
    from cjgrade.config import load_settings
    from cjgrade.store import current_revision, head_revision, open_store

    settings = load_settings(config_file=config, database_url=database_url)
    store = await open_store(settings, migrate=False, user_scales=())
    try:
        revision = await current_revision(store.engine)
    finally:
        await store.close()
    head = head_revision()
    if revision is None:
        state = "empty (run `cjgrade db upgrade`)"
    elif revision == head:
        state = f"{revision} (head)"
    else:
        state = f"{revision}, behind head {head} (run `cjgrade db upgrade`)"
    return f"{store.display_url}: {state}"
