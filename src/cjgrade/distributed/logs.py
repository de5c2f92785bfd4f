"""Structured JSON logs (structlog) for the orchestrator and the workers.

Every line is one JSON object with ``timestamp``, ``level``, ``event`` and the context bound
with :func:`bind_context` (``batch_uuid``, ``correlation_id``, ``comparison_id``), so a batch
can be followed across processes with ``jq 'select(.batch_uuid == "...")'``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

__all__ = ["bind_context", "configure_logging"]


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Send structlog (and the standard library's warnings) to stderr as JSON lines."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        from cjgrade.errors import ConfigError

        raise ConfigError(f"unknown log level {level!r}; use debug, info, warning or error")
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


@contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind context variables for the logs of the current task, unbound afterwards."""
    tokens = structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items()
                                                       if v is not None})
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
