"""Everything plan, dry-run and execute check before anything is written or spent.

:func:`prepare` reads the inputs, resolves the judge and its settings, loads the prompts,
binds the stored assignment when ``--assignment-id`` is given and builds the batch spec the
engine would run; :func:`check_capacity` is R1. Any problem raises here, so a mode that gets a
:class:`Prepared` can write its files.

Anchors (R4): with ``--assignment-id`` the batch is student-only from the folder; the anchors
are the assignment's registered anchors in its grade scale (``register-anchors`` or
``cjgrade admin anchors register`` put them there), and a run against an assignment without
any is refused. The assignment is resolved through the admin API (R3) when the API is
configured or the run goes to a cluster, else from the local store (with a printed note).

Without an assignment the run is ad hoc: the folder's anchors are the anchors, checked against
``eng5_np_legacy_9_step`` (the original's scale for the 2017 anchor set), or against
``grade_scale`` of a cjgrade-layout folder's ``config.toml``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import typer

from cjgrade.engine.options import merge_options
from cjgrade.engine.spec import BatchSpec
from cjgrade.errors import InputError
from cjgrade.runner.eng5.api_prepare import api_configured
from cjgrade.runner.eng5.inputs import Eng5Inputs, is_eng5_layout, read_inputs
from cjgrade.runner.eng5.judge_settings import (
    PromptTexts,
    batch_option_overrides,
    check_judge,
    judge_name,
    load_prompts,
)
from cjgrade.runner.eng5.settings import Eng5Settings
from cjgrade.runner.folder_spec import inputs_manifest, spec_from_folder

__all__ = ["ADHOC_SCALE", "AssignmentInfo", "Prepared", "check_capacity",
           "check_expected_scale", "folder_grade_scale", "prepare", "student_inputs_manifest"]

ADHOC_SCALE = "eng5_np_legacy_9_step"


@dataclass(frozen=True)
class AssignmentInfo:
    """What the assignment preflight resolved (printed, and recorded in the artefact)."""

    assignment_id: str
    grade_scale: str
    context_origin: str
    student_prompt: bool
    judge_rubric: bool
    anchor_count: int
    anchors_by_grade: dict[str, int]
    source: str
    """Where it was resolved: ``the API at URL`` or ``the local store URL``."""

    def line(self) -> str:
        return (f"Resolved assignment (from {self.source}): assignment_id={self.assignment_id} "
                f"grade_scale={self.grade_scale} context_origin={self.context_origin} "
                f"student_prompt={'present' if self.student_prompt else 'missing'} "
                f"anchors={self.anchor_count}")

    def record(self) -> dict[str, Any]:
        return {"assignment_id": self.assignment_id, "grade_scale": self.grade_scale,
                "context_origin": self.context_origin, "student_prompt": self.student_prompt,
                "judge_rubric": self.judge_rubric, "anchor_count": self.anchor_count,
                "anchors_by_grade": self.anchors_by_grade, "source": self.source}


@dataclass(frozen=True)
class Prepared:
    """A validated run: inputs, judge, prompts, the spec the engine would run."""

    settings: Eng5Settings
    inputs: Eng5Inputs
    judge: str
    prompts: PromptTexts
    spec: BatchSpec
    assignment: AssignmentInfo | None
    capacity: int

    def runner_record(self, mode: str) -> dict[str, Any]:
        """The artefact's ``runner`` section (schema: ``artefact._RUNNER``)."""
        from cjgrade import __version__
        from cjgrade.runner.eng5.judge_settings import judge_record

        s = self.settings
        return {
            "runner_version": __version__, "mode": mode, "batch_uuid": s.batch_uuid,
            "batch_label": s.batch_id, "course_id": s.course_id, "course_code": s.course_code,
            "language": s.language, "input_layout": self.inputs.layout,
            "expected_grade_scale": s.expected_grade_scale,
            "assignment": self.assignment.record() if self.assignment else None,
            "judge": judge_record(s, self.judge, self.spec.options),
            "prompts": self.prompts.record(),
            "settings": s.public_dict(), "capacity": self.capacity,
            "warnings": list(self.inputs.warnings),
        }

    @property
    def n_anchors(self) -> int:
        return len(self.spec.anchors)

    @property
    def n_students(self) -> int:
        return len(self.spec.students)


def check_capacity(n_anchors: int, n_students: int, *, what: str = "anchors x students") -> int:
    """R1: the number of anchor-student pairs must be at least 1 (with guidance)."""
    capacity = n_anchors * n_students
    if capacity < 1:
        missing = "anchor essays" if n_anchors < 1 else "student essays"
        raise InputError(
            f"comparison capacity is {capacity} ({what} = {n_anchors} x {n_students}): there "
            f"are no {missing}; add them (anchors: register them with `eng5-np-run "
            "register-anchors ASSIGNMENT_ID` or put them in anchor_essays/; students: "
            "student_essays/)")
    return capacity


def folder_grade_scale(settings: Eng5Settings) -> str:
    """The grade scale of an ad hoc run (no assignment): ``grade_scale`` of a cjgrade-layout
    folder's ``config.toml`` (default ``swedish_8_anchor``), else :data:`ADHOC_SCALE`."""
    if not is_eng5_layout(settings.input_dir):
        from cjgrade.runner.inputs import _read_config

        config, _ = _read_config(settings.input_dir) if settings.input_dir.is_dir() else ({}, None)
        return str(config.get("grade_scale", "swedish_8_anchor"))
    return ADHOC_SCALE


def check_expected_scale(settings: Eng5Settings, actual: str, source: str) -> None:
    """``--expected-grade-scale`` is an assertion: fail when ``actual`` (the scale ``source``
    uses) differs."""
    expected = settings.expected_grade_scale
    if expected is not None and expected != actual:
        raise InputError(f"--expected-grade-scale {expected} but {source} uses {actual}; check "
                         "the assignment id, or drop the flag")


def prepare(settings: Eng5Settings, *, store_target: Any = None,
            echo: Callable[[str], None] = typer.echo) -> Prepared:
    """Validate a plan/dry-run/execute run completely; nothing is written.

    With ``--assignment-id`` the assignment and its anchors are resolved, and the lines saying
    so are printed with ``echo``:

    * through the admin API (R3, R4; :mod:`api_prepare`) on a cluster (``--kafka-bootstrap``)
      and whenever the API is configured (a token, or an explicit ``--api-url``);
    * otherwise from the local store (``store_target``: a URL or Settings; default the
      configured store, or ``--database-url``), with a note saying the API was not asked.
    """
    if settings.assignment_id is not None and settings.kafka_bootstrap:
        # Cluster mode: the runner's machine has no database; the API answers (R3, R4).
        from cjgrade.runner.eng5.remote import prepare_cluster_run

        prepared: Prepared = asyncio.run(prepare_cluster_run(settings)).prepared
        return prepared
    if settings.assignment_id is not None and api_configured(settings):
        from cjgrade.runner.eng5.api_prepare import prepare_through_api

        prepared = asyncio.run(prepare_through_api(settings, echo=echo)).prepared
        return prepared
    name = judge_name(settings)
    assert name is not None
    check_judge(settings, name)
    prompts = load_prompts(settings)
    if settings.assignment_id is not None:
        return _prepare_assignment(settings, name, prompts, store_target, echo)
    scale = folder_grade_scale(settings)
    check_expected_scale(settings, scale, "this ad hoc run (no --assignment-id)")
    inputs = read_inputs(settings.input_dir, scale_id=scale, anchor_dir=settings.anchor_dir)
    folder = inputs.folder
    capacity = check_capacity(len(folder.anchors), len(folder.students))
    options = merge_options(folder.options, batch_option_overrides(settings),
                            source="command line")
    spec = spec_from_folder(replace(folder, options=options), judge=name,
                            base_url=settings.llm_base_url)
    spec = replace(spec, label=settings.batch_id, system_prompt=prompts.system_prompt,
                   rubric=prompts.rubric if prompts.rubric is not None else spec.rubric)
    return Prepared(settings, inputs, name, prompts, spec, None, capacity)


def student_inputs_manifest(folder: Any) -> dict[str, Any]:
    """The artefact's ``inputs`` of a run against an assignment: the student files read from
    the folder. Its instructions, prompt and rubric files are not listed: the assignment's
    texts are sent (a ``--rubric`` file is recorded in ``runner.prompts``)."""
    manifest = inputs_manifest(folder)
    manifest.update(instructions=None, prompt=None, rubric=None)
    return manifest


def _prepare_assignment(settings: Eng5Settings, name: str, prompts: PromptTexts,
                        store_target: Any, echo: Callable[[str], None]) -> Prepared:
    from cjgrade.domain import Essay

    target = store_target if store_target is not None else _store_target(settings)
    info, spec = asyncio.run(_bind(settings, name, prompts, target, ()))
    echo(info.line())
    echo(f"Note: assignment {info.assignment_id} was resolved from {info.source}, not through "
         "the admin API (no API token or --api-url is configured); give --token (or "
         "CJGRADE_TOKEN) and --api-url to run the assignment preflight against the server")
    check_expected_scale(settings, info.grade_scale, f"assignment {info.assignment_id}")
    if info.anchor_count < 1:
        raise InputError(
            f"assignment {info.assignment_id} has no anchors in its grade scale "
            f"{info.grade_scale}; register them first: `eng5-np-run register-anchors "
            f"{info.assignment_id} --anchor-dir FOLDER` (or `cjgrade admin anchors register`)")
    inputs = read_inputs(settings.input_dir, scale_id=info.grade_scale, need_anchors=False,
                         need_instructions=False)
    students = tuple(Essay(id=e.essay_id, text=e.text, is_anchor=False, label=e.file_name)
                     for e in inputs.folder.students)
    capacity = check_capacity(info.anchor_count, len(students),
                              what="registered anchors x students")
    spec = replace(spec, essays=spec.anchors + students,
                   inputs=student_inputs_manifest(inputs.folder))
    return Prepared(settings, inputs, name, prompts, spec, info, capacity)


def _shown_target(target: Any) -> str:
    """The store's URL as printed (password hidden)."""
    from cjgrade.config import Settings, render_url

    return render_url(target.url() if isinstance(target, Settings) else target)


def _store_target(settings: Eng5Settings) -> Any:
    from cjgrade.config import load_settings

    return load_settings(database_url=settings.database_url)


async def _bind(settings: Eng5Settings, name: str, prompts: PromptTexts, target: Any,
                students: tuple[Any, ...]) -> tuple[AssignmentInfo, BatchSpec]:
    from cjgrade.engine.ledger import spec_for_assignment
    from cjgrade.engine.options import BatchOptions
    from cjgrade.store import open_store
    from cjgrade.store.anchors import count_anchors_by_scale
    from cjgrade.store.assignments import require_assignment

    store = await open_store(target)
    try:
        async with store.transaction() as session:
            record = await require_assignment(session, settings.assignment_id or "")
            counts = await count_anchors_by_scale(session, record.id)
        options = merge_options(BatchOptions(), batch_option_overrides(settings),
                                source="command line")
        try:
            spec = await spec_for_assignment(
                store, record.id, students, judge=name, options=options, label=settings.batch_id,
                rubric_override=prompts.rubric)
        except InputError as exc:  # canonical_national refuses --rubric
            raise InputError(f"--rubric: {exc}") from None
    finally:
        await store.close()
    by_grade: dict[str, int] = {}
    for essay in spec.anchors:
        by_grade[str(essay.grade)] = by_grade.get(str(essay.grade), 0) + 1
    info = AssignmentInfo(
        assignment_id=record.id, grade_scale=record.grade_scale,
        context_origin=record.context_origin, student_prompt=bool(record.student_prompt),
        judge_rubric=bool(record.judge_rubric), anchor_count=counts.get(record.grade_scale, 0),
        anchors_by_grade=dict(sorted(by_grade.items())),
        source=f"the local store {_shown_target(target)}")
    spec = replace(spec, system_prompt=prompts.system_prompt, base_url=settings.llm_base_url)
    return info, spec
