"""``cjgrade serve``: run the HTTP API under uvicorn, with the batch orchestrator when a Kafka
broker is configured (``--bootstrap`` or ``KAFKA_BOOTSTRAP_SERVERS``).

Before uvicorn starts, the database is opened (and migrated) once: an unusable
``CJGRADE_HOME`` or an unreachable database is then one line naming it (password hidden) and
a non-zero exit, instead of a traceback from the app's lifespan followed by a guess at the port.
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from cjgrade.errors import ConfigError, StorageError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``cjgrade serve`` to the root app."""
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="postgresql://... or sqlite:///...; default from DATABASE_URL / CJGRADE_DB_* / "
        "config, else SQLite under CJGRADE_HOME.",
        show_default=False,
    ),
    max_body_bytes: int | None = typer.Option(
        None, "--max-body-bytes", min=1, help="Largest accepted request body (default 1 MiB)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    bootstrap: str | None = typer.Option(
        None,
        "--bootstrap",
        help="Kafka bootstrap servers; default KAFKA_BOOTSTRAP_SERVERS. When set, the batch "
        "orchestrator runs with the API (and resumes unfinished batches).",
        show_default=False,
    ),
    no_orchestrator: bool = typer.Option(
        False, "--no-orchestrator", help="Serve only the API even when a broker is configured."
    ),
) -> None:
    """Serve the admin API and content store (OpenAPI at /docs), plus the orchestrator."""
    import uvicorn

    from cjgrade.api import create_app
    from cjgrade.config import load_settings, render_url

    settings = load_settings(database_url=database_url)
    asyncio.run(check_database(settings))
    servers = bootstrap or settings.kafka_bootstrap_servers
    hooks = []
    if servers and not no_orchestrator:
        from cjgrade.distributed.service import attach_orchestrator

        hooks.append(attach_orchestrator(settings, bootstrap=servers))
    app = create_app(settings, max_body_bytes=max_body_bytes, lifespan_hooks=hooks)
    where = render_url(settings.url())
    role = f"orchestrator on Kafka {servers}" if hooks else "no orchestrator (no Kafka broker set)"
    typer.echo(
        f"cjgrade API on http://{host}:{port} (docs at /docs), database {where}, {role}", err=True
    )
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C/SIGINT, then re-raises the signal: a normal
        # stop, not an interruption.
        return
    except (OSError, SystemExit) as exc:  # uvicorn exits when it cannot bind the port
        if _lifespan_failed(server):
            raise ConfigError(
                "the API failed during start-up (see the log above): its database or a "
                "lifespan hook failed; check --database-url / DATABASE_URL and the broker"
            ) from exc
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc}); is another server running? choose another "
            "--port"
        ) from exc
    if not server.started:
        # uvicorn logs the cause (port in use, database unreachable during start-up).
        raise ConfigError(
            f"the API did not start on {host}:{port}; see the log above (port in use, or the "
            "database unreachable: check --database-url / DATABASE_URL)"
        )


async def check_database(settings: Any) -> None:
    """Open (and migrate) the database once, then close it.

    Raises
    ------
    ConfigError
        ``CJGRADE_HOME`` unusable for the default SQLite file (names the path and the fix).
    StorageError
        The database does not answer or refuses the connection: names its URL without the
        password and says what to check.
    """
    from cjgrade.config import render_url
    from cjgrade.store import open_store

    url = settings.url()  # ConfigError for an unusable CJGRADE_HOME, before any connection
    try:
        store = await open_store(settings)
    except StorageError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        reason = str(getattr(cause, "orig", None) or cause).strip().splitlines()
        raise StorageError(
            f"the database {render_url(url)} is unreachable or refused the connection "
            f"({reason[0] if reason else type(cause).__name__}); start it or fix "
            "--database-url / DATABASE_URL / CJGRADE_DB_*; the API was not started"
        ) from exc
    await store.close()


def _lifespan_failed(server: Any) -> bool:
    """Whether uvicorn stopped because the app's start-up failed (not the socket)."""
    lifespan = getattr(server, "lifespan", None)
    return bool(getattr(lifespan, "startup_failed", False) or getattr(lifespan, "should_exit",
                                                                          False))
