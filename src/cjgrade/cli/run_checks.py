"""Safeguards of ``cjgrade run | resume | demo`` around the paid part of a batch.

Before the first judge call (and before the database is opened): the judge's base URL must
be an http(s) URL with a host, and the output folder must be usable (not a file, inside a
writable folder). After it: a failure to write the outputs, or a Ctrl-C, says what is already
stored and the ``cjgrade resume`` command that finishes the job without paying again.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

from cjgrade.engine.progress import Progress
from cjgrade.errors import CJGradeError, ConfigError, StorageError

__all__ = [
    "RunWatch",
    "check_base_url",
    "check_output_dir",
    "execute_run",
    "resume_flags",
]

INTERRUPTED_EXIT = 130
"""128 + SIGINT, what shells report for a Ctrl-C."""
_UNSAFE_URL = re.compile(r"[\s\x00-\x1f\x7f]")


def check_base_url(url: str | None, source: str = "--base-url") -> None:
    """Refuse a judge base URL that is not ``http(s)://HOST[:PORT][/path]``.

    Raises
    ------
    ConfigError
        Naming ``source`` (the flag or config key the URL came from) and an example.
    """
    if url is None:
        return
    problem = _url_problem(url)
    if problem:
        raise ConfigError(
            f"{source} {url!r} is not usable: {problem}; give the server's API root as an "
            "http(s) URL with a host, e.g. http://localhost:8000/v1 (nothing was written)"
        )


def _url_problem(url: str) -> str | None:
    if _UNSAFE_URL.search(url):
        return "it contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"it cannot be parsed ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"the scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        return f"it has {scheme}, not http or https"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "port 0 is not a server port"
    return None


def check_output_dir(path: Path, flag: str = "--out") -> None:
    """Check, before anything is paid for, that the outputs can be written to ``path``.

    ``path`` may exist (a folder: files in it are replaced) or not (it is created with its
    missing parents, so the nearest existing one must be a writable folder). Nothing is
    created here; a probe file is written and removed in the folder that will receive them.

    Raises
    ------
    ConfigError
        ``path`` or one of its parents is a file, or the folder is not writable; the message
        names the path and what to pass instead.
    """
    fix = f"pass {flag} with a new or writable folder"
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{flag} {path} is an existing file, not a folder; {fix} (nothing was run or paid)"
        )
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"{flag} {path} cannot be created: {existing} is a file, not a folder; {fix} "
            "(nothing was run or paid)"
        )
    probe = existing / f".cjgrade-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        where = "" if existing == path else f" (its nearest existing parent {existing})"
        raise ConfigError(
            f"{flag} {path}{where} is not writable ({exc.strerror or exc}); {fix} (nothing was "
            "run or paid)"
        ) from exc


def resume_flags(database_url: str | None) -> str:
    """The ``--database-url`` a ``cjgrade resume`` hint needs (password hidden), or ``""``
    for the default database."""
    if not database_url:
        return ""
    from cjgrade.config import render_url

    return f" --database-url {render_url(database_url)}"


class RunWatch:
    """Passes progress on to the display and remembers what a message after a failure needs:
    the batch uuid and the last stored counts."""

    def __init__(self, display: Any) -> None:
        self.display = display
        self.batch_uuid: str | None = None
        self.last: Progress | None = None

    def on_created(self, batch_uuid: str) -> None:
        self.batch_uuid = batch_uuid
        self.display.on_created(batch_uuid)

    def on_progress(self, progress: Progress) -> None:
        self.last = progress
        self.display.on_progress(progress)

    def resume_command(self, extra: str = "") -> str:
        uuid = self.batch_uuid or "BATCH_UUID"
        return f"cjgrade resume {uuid}{extra}"

    def interrupted(self, extra: str = "") -> str:
        """What a Ctrl-C leaves behind, and how to continue."""
        if self.batch_uuid is None:
            return "interrupted before the batch was created: nothing was stored or paid for"
        p = self.last
        stored = "no comparison stored yet"
        if p is not None:
            stored = f"{p.done} comparison(s) stored"
            if p.failed:
                stored += f" ({p.failed} failed)"
            if p.cost_usd is not None:
                stored += f", ${p.cost_usd:.4f} spent"
            if p.requested > p.done:
                stored += (f"; {p.requested - p.done} requested comparison(s) are pending and "
                           "will be judged on resume (verdicts already paid for come from the "
                           "response cache)")
        return (
            f"interrupted: batch {self.batch_uuid} is saved with {stored}. Continue it with "
            f"`{self.resume_command(extra)} --out DIR`; nothing stored is judged or paid again"
        )


def execute_run(
    coro_factory: Callable[[Any], Any],
    out_dir: Callable[[Any], Path],
    *,
    write: Callable[[Any, Path], dict[str, Path]],
    display: Any,
    resume_flags: str = "",
) -> tuple[Any, dict[str, Path]]:
    """Run a batch with ``display`` as its progress listener, then write its outputs.

    ``out_dir(run)`` is the folder for a finished run; ``resume_flags`` is appended to the
    ``cjgrade resume`` command in recovery messages (e.g. a ``--database-url``). A Ctrl-C
    prints what was saved and exits 130; an output folder that fails late is a
    :class:`StorageError` naming the resume command that writes the outputs elsewhere.
    """
    watch = RunWatch(display)
    try:
        with display:
            run = asyncio.run(coro_factory(watch))
    except KeyboardInterrupt:
        typer.echo(watch.interrupted(resume_flags), err=True)
        raise typer.Exit(INTERRUPTED_EXIT) from None
    target = out_dir(run)
    try:
        paths = write(run, target)
    except KeyboardInterrupt:
        typer.echo(f"interrupted while writing the outputs; the batch is stored: write them with "
                   f"`{watch.resume_command(resume_flags)} --out DIR`", err=True)
        raise typer.Exit(INTERRUPTED_EXIT) from None
    except (OSError, CJGradeError) as exc:
        uuid = run.result.batch_uuid
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StorageError(
            f"batch {uuid} is finished and stored, but its outputs could not be written to "
            f"{target} ({reason}); nothing is lost: write them to another folder with "
            f"`cjgrade resume {uuid}{resume_flags} --out DIR` (no judge is called again)"
        ) from exc
    return run, paths
