"""``--mode dry-run``: the full validation of plan, then a schema-valid
``assessment_run.dry-run.json`` (inputs with checksums, metadata, every judge setting and the
prompts, empty results) in this run's folder. No judge call, nothing published."""

from __future__ import annotations

import typer

from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.artefact import dry_run_artefact, extend_artefact, write_runner_artefact
from cjgrade.runner.eng5.plan import echo_run_ids
from cjgrade.runner.eng5.prepare import prepare
from cjgrade.runner.eng5.settings import Eng5Settings

__all__ = ["run"]


def run(settings: Eng5Settings) -> int:
    from cjgrade.cli.run_checks import check_output_dir

    prepared = prepare(settings)
    run_dir = settings.run_dir()
    check_output_dir(run_dir, "--output-dir")
    spec = prepared.spec
    base = dry_run_artefact(
        spec.inputs, batch_uuid=settings.batch_uuid, label=settings.batch_id,
        assignment_id=spec.assignment_id or spec.assignment_ref, grade_scale=spec.grade_scale,
        judge=prepared.judge, options=spec.options.to_dict())
    doc = extend_artefact(base, prepared.runner_record("dry-run"), run_dir=run_dir)
    echo_run_ids(settings)
    paths = write_runner_artefact(doc, run_dir, "dry-run",
                                  artefact_format=settings.artefact_format)
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")
    typer.echo(f"DRY-RUN complete: {prepared.n_anchors} anchors, {prepared.n_students} "
               "students validated; no judge called")
    return exit_codes.OK
