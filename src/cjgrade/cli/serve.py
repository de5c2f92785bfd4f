"""``cjgrade serve``: run the HTTP API under uvicorn, with the batch orchestrator when a Kafka
broker is configured (``--bootstrap`` or ``KAFKA_BOOTSTRAP_SERVERS``).

Every option can also be set in the environment (the ``CJGRADE_...`` name in its help; a flag
wins). Logs are JSON lines on stderr (uvicorn's and aiokafka's too). SIGTERM or Ctrl-C stops
the API and the orchestrator (batches released for takeover) and the process exits.

Before uvicorn starts, the database is opened (and migrated) once: an unusable
``CJGRADE_HOME`` or an unreachable database is then one line naming it (password hidden) and
a non-zero exit, instead of a traceback from the app's lifespan followed by a guess at the port.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import typer

from cjgrade.errors import ConfigError, StorageError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``cjgrade serve`` to the root app."""
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", envvar="CJGRADE_SERVE_HOST",
                             help="Interface to listen on [env CJGRADE_SERVE_HOST]."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, envvar="CJGRADE_SERVE_PORT",
                             help="TCP port [env CJGRADE_SERVE_PORT]."),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="postgresql://... or sqlite:///...; default from DATABASE_URL / CJGRADE_DB_* / "
        "config, else SQLite under CJGRADE_HOME.",
        show_default=False,
    ),
    max_body_bytes: int | None = typer.Option(
        None, "--max-body-bytes", min=1, envvar="CJGRADE_MAX_BODY_BYTES",
        help="Largest accepted request body (default 1 MiB) [env CJGRADE_MAX_BODY_BYTES].",
    ),
    log_level: str = typer.Option("info", "--log-level", envvar="CJGRADE_LOG_LEVEL",
                                  help="debug, info, warning, error [env CJGRADE_LOG_LEVEL]."),
    bootstrap: str | None = typer.Option(
        None,
        "--bootstrap",
        help="Kafka bootstrap servers; default KAFKA_BOOTSTRAP_SERVERS. When set, the batch "
        "orchestrator runs with the API (and resumes unfinished batches).",
        show_default=False,
    ),
    no_orchestrator: bool = typer.Option(
        False, "--no-orchestrator", envvar="CJGRADE_NO_ORCHESTRATOR",
        help="Serve only the API even when a broker is configured "
        "[env CJGRADE_NO_ORCHESTRATOR=1].",
    ),
    partitions: int | None = typer.Option(
        None, "--partitions", min=1, envvar="CJGRADE_PARTITIONS", show_default=False,
        help="Partitions of the topics the orchestrator creates (default 24: a count that 1, 2, 3, "
        "4, 6, 8 and 12 workers share evenly) [env CJGRADE_PARTITIONS].",
    ),
    redispatch_after: float = typer.Option(
        30.0, "--redispatch-after", min=0.1, envvar="CJGRADE_REDISPATCH_AFTER_S",
        help="Seconds without a result before a round's unanswered requests are published "
        "again; above the slowest judge call [env CJGRADE_REDISPATCH_AFTER_S].",
    ),
    shutdown_timeout: float = typer.Option(
        20.0, "--shutdown-timeout", min=1.0, envvar="CJGRADE_SHUTDOWN_TIMEOUT_S",
        help="On SIGTERM/Ctrl-C: seconds for open requests and for the orchestrator to stop "
        "[env CJGRADE_SHUTDOWN_TIMEOUT_S].",
    ),
) -> None:
    """Serve the admin API and content store (OpenAPI at /docs), plus the orchestrator."""
    import uvicorn

    from cjgrade.api import create_app
    from cjgrade.config import load_settings, render_url
    from cjgrade.distributed.logs import configure_logging

    configure_logging(log_level)
    settings = load_settings(database_url=database_url)
    asyncio.run(check_database(settings))
    servers = bootstrap or settings.kafka_bootstrap_servers
    hooks = []
    if servers and not no_orchestrator:
        from cjgrade.bus.transport import DEFAULT_PARTITIONS
        from cjgrade.distributed.orchestrator import OrchestratorConfig
        from cjgrade.distributed.service import attach_orchestrator

        hooks.append(attach_orchestrator(
            settings, bootstrap=servers, partitions=partitions or DEFAULT_PARTITIONS,
            stop_timeout_s=shutdown_timeout,
            config=OrchestratorConfig(redispatch_after_s=redispatch_after)))
    app = create_app(settings, max_body_bytes=max_body_bytes, lifespan_hooks=hooks)
    where = render_url(settings.url())
    role = f"orchestrator on Kafka {servers}" if hooks else "no orchestrator (no Kafka broker set)"
    typer.echo(
        f"cjgrade API on http://{host}:{port} (docs at /docs), database {where}, {role}", err=True
    )
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(),
                            lifespan="on", log_config=None,
                            timeout_graceful_shutdown=int(max(1, shutdown_timeout)))
    server = uvicorn.Server(config)
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        server.run()
    except (KeyboardInterrupt, _Terminated):
        # uvicorn shuts down gracefully on Ctrl-C/SIGINT and SIGTERM (API, then the
        # orchestrator), then re-raises the signal: a normal stop, not an interruption.
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
    finally:
        signal.signal(signal.SIGTERM, previous)
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


class _Terminated(Exception):
    """SIGTERM, re-raised by uvicorn after its graceful shutdown: exit 0."""


def _terminated(signum: int, frame: Any) -> None:
    raise _Terminated


def _lifespan_failed(server: Any) -> bool:
    """Whether uvicorn stopped because the app's start-up failed (not the socket)."""
    lifespan = getattr(server, "lifespan", None)
    return bool(getattr(lifespan, "startup_failed", False) or getattr(lifespan, "should_exit",
                                                                          False))
