"""Start-up of the console script: each command loads only what it needs (no timing here)."""

from __future__ import annotations

import subprocess
import sys

import typer

from cjgrade.cli.main import COMMAND_MODULES, COMMANDS, build_app


def registered_names(app: typer.Typer) -> set[str]:
    commands = {c.name for c in app.registered_commands}
    groups = {g.name for g in app.registered_groups}
    return {n for n in commands | groups if n}


def test_every_command_maps_to_the_module_that_registers_it() -> None:
    """COMMANDS names exactly the commands of the full app, each with its own module."""
    assert registered_names(build_app()) == set(COMMANDS)
    assert set(COMMANDS.values()) == set(COMMAND_MODULES)
    for name, module in COMMANDS.items():
        names = registered_names(build_app(name))
        assert name in names
        assert names == {n for n, m in COMMANDS.items() if m == module}


def test_fit_does_not_import_scipy_stats_or_asyncio() -> None:
    """`cjgrade fit`'s code path leaves scipy.stats, scipy.optimize and asyncio unloaded."""
    code = (
        "import sys\n"
        "from cjgrade.cli.main import build_app\n"
        "build_app('fit')\n"
        "import cjgrade.cli.fit_report\n"
        "heavy = [m for m in ('scipy.stats', 'scipy.optimize', 'asyncio') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
