"""``cjgrade worker``: a comparison worker for distributed mode (Kafka + PostgreSQL).

Every option can also be set in the environment (the name in its help; a flag wins). Logs are
JSON lines on stderr. SIGTERM or Ctrl-C: no new request is read, calls in flight finish (up to
``--drain-timeout``, the rest are handed back to the group) and the process exits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``cjgrade worker`` to the root app."""
    app.command("worker")(worker)


def worker(
    bootstrap: str | None = typer.Option(
        None, "--bootstrap", help="Kafka brokers HOST:PORT[,...] (default KAFKA_BOOTSTRAP_SERVERS)."
    ),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=1024,
                                    envvar="CJGRADE_WORKER_CONCURRENCY",
                                    help="Judge calls in flight at once "
                                    "[env CJGRADE_WORKER_CONCURRENCY]."),
    judge_allow: list[str] = typer.Option(
        [], "--judge-allow", envvar="CJGRADE_WORKER_JUDGE_ALLOW",
        help="Judges this worker serves (fnmatch pattern, repeatable, e.g. 'openai/*'); "
        "default all [env CJGRADE_WORKER_JUDGE_ALLOW, space-separated].",
    ),
    judge_options: Path | None = typer.Option(
        None, "--judge-options", exists=False, envvar="CJGRADE_WORKER_JUDGE_OPTIONS",
        help="JSON file of adapter options per judge, e.g. "
        '{"sim/bt": {"abilities": {...}, "latency_s": 0.2}} [env CJGRADE_WORKER_JUDGE_OPTIONS].',
    ),
    allow_base_url: list[str] = typer.Option(
        [], "--allow-base-url", envvar="CJGRADE_WORKER_ALLOW_BASE_URL",
        help="OpenAI-compatible servers (a batch's --base-url) this worker may call, fnmatch "
        "pattern, repeatable, e.g. 'http://llm.internal:8000/*'; it sends its provider key "
        "there. Default none [env CJGRADE_WORKER_ALLOW_BASE_URL, space-separated].",
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", envvar=["CJGRADE_WORKER_DATABASE_URL", "DATABASE_URL"],
        help="The batches' database: when given, a request whose comparison already has a "
        "stored outcome is skipped, not judged again [env CJGRADE_WORKER_DATABASE_URL or "
        "DATABASE_URL].",
        show_default=False,
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=1, max=65535, envvar="CJGRADE_WORKER_METRICS_PORT",
        help="Serve /metrics (Prometheus), /healthz and /readyz on this port "
        "[env CJGRADE_WORKER_METRICS_PORT].",
    ),
    partitions: int | None = typer.Option(
        None, "--partitions", min=1, envvar="CJGRADE_PARTITIONS", show_default=False,
        help="Partitions of the topics this worker creates (default 24, as `serve`) "
        "[env CJGRADE_PARTITIONS]."),
    session_timeout_ms: int = typer.Option(
        10_000, "--session-timeout-ms", min=1000, envvar="CJGRADE_WORKER_SESSION_TIMEOUT_MS",
        help="How long the group waits for a silent worker before its requests move on "
        "[env CJGRADE_WORKER_SESSION_TIMEOUT_MS].",
    ),
    drain_timeout: float = typer.Option(
        30.0, "--drain-timeout", min=0.0, envvar="CJGRADE_WORKER_DRAIN_TIMEOUT_S",
        help="On SIGTERM/Ctrl-C: seconds calls in flight may take to finish before they are "
        "handed back to the group [env CJGRADE_WORKER_DRAIN_TIMEOUT_S].",
    ),
    log_level: str = typer.Option("info", "--log-level", envvar="CJGRADE_LOG_LEVEL",
                                  help="debug, info, warning, error [env CJGRADE_LOG_LEVEL]."),
) -> None:
    """Judge comparison requests from Kafka and publish the results (run any number)."""
    from cjgrade.bus.transport import DEFAULT_PARTITIONS
    from cjgrade.config import load_settings
    from cjgrade.distributed.judges import load_judge_options
    from cjgrade.distributed.logs import configure_logging
    from cjgrade.distributed.service import bootstrap_servers, run_worker

    configure_logging(log_level)
    servers = bootstrap_servers(bootstrap, load_settings())
    options = load_judge_options(judge_options) if judge_options is not None else None
    asyncio.run(run_worker(servers, concurrency=concurrency, allow=judge_allow or None,
                           judge_options=options, metrics_port=metrics_port,
                           partitions=partitions or DEFAULT_PARTITIONS,
                           base_urls=allow_base_url or None,
                           database_url=database_url, drain_timeout_s=drain_timeout,
                           transport_options={"session_timeout_ms": session_timeout_ms}))
