"""``cjgrade worker``: a comparison worker for distributed mode (Kafka + PostgreSQL)."""

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
                                    help="Judge calls in flight at once."),
    judge_allow: list[str] = typer.Option(
        [], "--judge-allow",
        help="Judges this worker serves (fnmatch pattern, repeatable, e.g. 'openai/*'); "
        "default all.",
    ),
    judge_options: Path | None = typer.Option(
        None, "--judge-options", exists=False,
        help="JSON file of adapter options per judge, e.g. "
        '{"sim/bt": {"abilities": {...}, "latency_s": 0.2}}.',
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on this port."
    ),
    partitions: int = typer.Option(8, "--partitions", min=1,
                                   help="Partitions of the topics this worker creates."),
    session_timeout_ms: int = typer.Option(
        10_000, "--session-timeout-ms", min=1000,
        help="How long the group waits for a silent worker before its requests move on.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
) -> None:
    """Judge comparison requests from Kafka and publish the results (run any number)."""
    from cjgrade.config import load_settings
    from cjgrade.distributed.judges import load_judge_options
    from cjgrade.distributed.logs import configure_logging
    from cjgrade.distributed.service import bootstrap_servers, run_worker

    configure_logging(log_level)
    servers = bootstrap_servers(bootstrap, load_settings())
    options = load_judge_options(judge_options) if judge_options is not None else None
    asyncio.run(run_worker(servers, concurrency=concurrency, allow=judge_allow or None,
                           judge_options=options, metrics_port=metrics_port,
                           partitions=partitions,
                           transport_options={"session_timeout_ms": session_timeout_ms}))
