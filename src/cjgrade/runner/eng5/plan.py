"""``--mode plan``: inventory (the original's check-mark lines), validation, capacity and a
cost estimate from the manifest; with ``--assignment-id`` the assignment preflight. Writes
nothing and calls no judge."""

from __future__ import annotations

import typer

from cjgrade.display import printable
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.prepare import prepare
from cjgrade.runner.eng5.settings import Eng5Settings

__all__ = ["run"]


def run(settings: Eng5Settings) -> int:
    """Validate everything a run would; print the plan. Returns the exit code."""
    from cjgrade.cli.run_view import print_plan
    from cjgrade.runner.planning import plan_batch

    prepared = prepare(settings)
    plan = plan_batch(prepared.spec, warnings=prepared.inputs.warnings)
    echo_run_ids(settings)
    for line in prepared.inputs.inventory:
        typer.echo(printable(line.render()))
    what = "registered anchors" if prepared.assignment else "anchors"
    typer.echo(f"Comparison capacity: {prepared.n_anchors} {what} x {prepared.n_students} "
               f"students = {prepared.capacity}")
    print_plan(plan, "table")
    typer.echo(f"PLAN mode complete. Inventory: {prepared.n_anchors} anchors, "
               f"{prepared.n_students} students; nothing written, no judge called")
    return exit_codes.OK


def echo_run_ids(settings: Eng5Settings) -> None:
    """R2: the canonical uuid and the label, both printed (stderr, as the original)."""
    typer.echo(f"Canonical batch UUID: {settings.batch_uuid} (label: "
               f"{printable(settings.batch_id)})", err=True)
