"""The ``cjgrade`` console script.

Each command group lives in its own module with a ``register(app)`` function, so the modules
stay small and heavy imports happen only when a command runs. The console script registers
only the module of the command it was asked to run (``COMMANDS``), so that, for instance,
``cjgrade fit`` does not import asyncio and ssl for the server commands; ``--help``, ``--version``
and unknown commands get every module.
"""

from __future__ import annotations

import importlib
import sys

import typer

from cjgrade import __version__
from cjgrade.display import printable
from cjgrade.errors import CJGradeError

COMMAND_MODULES = (
    "cjgrade.cli.fit",
    "cjgrade.cli.simulate",
    "cjgrade.cli.judges",
    "cjgrade.cli.eval",
    "cjgrade.cli.run",
    "cjgrade.cli.db",
    "cjgrade.cli.admin",
    "cjgrade.cli.batches",
    "cjgrade.cli.serve",
    "cjgrade.cli.worker",
)

COMMANDS = {
    "fit": "cjgrade.cli.fit",
    "simulate": "cjgrade.cli.simulate",
    "judges": "cjgrade.cli.judges",
    "eval": "cjgrade.cli.eval",
    "run": "cjgrade.cli.run",
    "plan": "cjgrade.cli.run",
    "resume": "cjgrade.cli.run",
    "demo": "cjgrade.cli.run",
    "report": "cjgrade.cli.run",
    "db": "cjgrade.cli.db",
    "admin": "cjgrade.cli.admin",
    "batches": "cjgrade.cli.batches",
    "serve": "cjgrade.cli.serve",
    "worker": "cjgrade.cli.worker",
}
"""Top-level command or group name -> the module in ``COMMAND_MODULES`` that registers it."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cjgrade {__version__}")
        raise typer.Exit()


def build_app(command: str | None = None) -> typer.Typer:
    """The root app; with a known ``command`` name, only the module that registers it."""
    app = typer.Typer(
        name="cjgrade",
        help="Grade essays by comparative judgement: Bradley-Terry scales, anchor-based grades.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        """cjgrade: comparative-judgement grading with LLM judges."""

    modules = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(app)
    return app


def run_app(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run a Typer app and return its exit code.

    Usage errors (bad flags, wrong types) are printed by typer's standalone mode with exit code
    2; a :class:`CJGradeError` becomes a one-line message and the error's own exit code.
    """
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        typer.echo(str(code), err=True)
        return 1
    except CJGradeError as exc:
        # Messages quote file names and provider replies: no escape sequence gets through.
        typer.secho(f"error: {printable(exc, keep_newlines=True)}", err=True,
                    fg=typer.colors.RED)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


def main() -> None:
    # The root has no option taking a value, so the first non-option word is the command.
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    sys.exit(run_app(build_app(command)))
