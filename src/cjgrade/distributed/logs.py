"""Structured JSON logs (structlog) for ``cjgrade serve``, the orchestrator and the workers.

Every line is one JSON object with ``timestamp``, ``level``, ``event``, ``logger`` and the
context bound with :func:`bind_context` (``batch_uuid``, ``correlation_id``, ``comparison_id``),
so a batch can be followed across processes with ``jq 'select(.batch_uuid == "...")'``. Lines
of the standard library's loggers (uvicorn, aiokafka, the API) go through the same renderer.

aiokafka logs every failed connection attempt: about 100 lines a second per process while a
broker is down. :class:`RateLimit` lets ``per_minute`` lines of one message template through
per minute and then one summary line (``"suppressed": N``) when the minute is over.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

__all__ = ["RateLimit", "bind_context", "configure_logging"]

_LIMITED = ("aiokafka", "kafka")


class RateLimit(logging.Filter):
    """At most ``per_minute`` records per message template and minute from the loggers under
    ``prefixes``; the rest are counted and reported in one line when the next record of that
    template arrives after the minute. Other loggers pass untouched."""

    def __init__(self, per_minute: int = 10, *, prefixes: tuple[str, ...] = _LIMITED,
                 clock: Any = time.monotonic) -> None:
        super().__init__()
        self.per_minute = per_minute
        self.prefixes = prefixes
        self.clock = clock
        self._windows: dict[tuple[str, str], list[float | int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= 60.0:
            suppressed = int(window[2]) if window is not None else 0
            self._windows[key] = [now, 1, 0]
            if suppressed:
                record.suppressed = suppressed  # reported with this line
            return True
        if window[1] < self.per_minute:
            window[1] += 1
            return True
        window[2] += 1
        return False


def _add_suppressed(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event.get("_record")
    suppressed = record.__dict__.get("suppressed", 0) if record is not None else 0
    if suppressed:
        event["suppressed"] = suppressed
        event["suppressed_note"] = "similar lines in the previous minute, not shown"
    return event


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is when a line is logged, not to the stream that was
    current when logging was configured (a test runner or an embedding program may replace
    and close it; a handler holding the old one then fails on every line)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR: Any = _CurrentStderr()


def configure_logging(level: str = "info", *, json: bool = True,
                      kafka_lines_per_minute: int = 10) -> None:
    """Send structlog and the standard library's logs to stderr as JSON lines."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        from cjgrade.errors import ConfigError

        raise ConfigError(f"unknown log level {level!r}; use debug, info, warning or error")
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_STDERR),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_STDERR)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[_add_suppressed, structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    ))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler.addFilter(RateLimit(kafka_lines_per_minute))
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _LIMITED:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()  # propagate to the JSON handler
        logging.getLogger(name).propagate = True


@contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind context variables for the logs of the current task, unbound afterwards."""
    tokens = structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items()
                                                       if v is not None})
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
