"""``cjgrade serve``: run the HTTP API under uvicorn, with the batch orchestrator when a Kafka
broker is configured (``--bootstrap`` or ``KAFKA_BOOTSTRAP_SERVERS``)."""

from __future__ import annotations

import typer

from cjgrade.errors import ConfigError

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
