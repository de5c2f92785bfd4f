"""``eng5-np-run --mode execute --kafka-bootstrap HOST:PORT``: a student-only batch on a running
cluster (``cjgrade serve`` with its orchestrator, plus ``cjgrade worker`` processes).

The runner's machine needs the API URL, a runner token and the broker, never database
credentials: everything it reads or writes goes through the API.

1. Preflights through the API: the assignment (R3: scale, context origin, student prompt; a
   ``--rubric`` refused for ``canonical_national``) and its anchors (R4: registered anchors on
   its scale; the runner never uploads anchors).
2. The batch spec from the API: the assignment's instructions, student prompt and judge rubric
   (or the ``--rubric`` override), the registered anchors (their stored texts, fetched by
   content id: this also proves the server still has them), the students of the input folder.
   It is validated with the engine's own checks before anything is uploaded.
3. The students (and a ``--system-prompt`` / ``--rubric`` text) are uploaded through the
   upload cache (R7, :mod:`upload_cache`).
4. ``assessment.requested`` goes on the bus, keyed by the batch uuid, and is saved under
   ``requests/``. With ``--await-completion`` the batch's events are collected by
   :class:`cjgrade.distributed.submit.AssessmentWatcher` (dedupe on comparison id; stop on
   completion plus result, 10 s grace after a completion without result, ``batch.failed``, or
   ``--completion-timeout`` -> ``partial_data``) and saved under ``events/``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from cjgrade.api.client import ApiClient
from cjgrade.distributed.submit import AssessmentOutcome
from cjgrade.domain import Essay
from cjgrade.engine.options import BatchOptions
from cjgrade.errors import ConfigError
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.cluster import (
    preflights,
    runner_status,
    spec_from_api,
    submit_and_collect,
)
from cjgrade.runner.eng5.preflight import AssignmentContext
from cjgrade.runner.eng5.upload_cache import UploadReport

__all__ = ["check_cluster_settings", "run"]


# -- the mode: settings in, exit code out --------------------------------------------------------


def run(settings: Any) -> int:
    """``--mode execute`` with ``--kafka-bootstrap`` (see the module docstring).

    Everything that can be refused is refused before the run folder is created, a text is
    uploaded or a request published: the judge and its settings, the prompt files, the
    assignment and its anchors (through the API), the students, the capacity (R1), the spec.
    """
    from cjgrade.cli.run_checks import check_output_dir
    from cjgrade.runner.eng5.execute import verbose_log
    from cjgrade.runner.eng5.plan import echo_run_ids

    if not settings.assignment_id:
        raise ConfigError("execute on a cluster (--kafka-bootstrap) is student-only and needs "
                          "--assignment-id: the anchors are the assignment's registered ones")
    if settings.auto_extract_eng5_db and not settings.database_url:
        raise ConfigError(
            "--auto-extract-eng5-db reads the batch's rows from the database, and the cluster "
            "path has no database credentials: pass --database-url (read access suffices), "
            "or leave the flag out and export later with `cjgrade batches export BATCH_UUID`")
    run_dir = settings.run_dir()
    check_output_dir(run_dir, "--output-dir")
    ready = asyncio.run(_prepare(settings))
    echo_run_ids(settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    with verbose_log(settings, run_dir):
        collected = asyncio.run(_submit(settings, ready))
        return _finish(settings, ready, collected)


def check_cluster_settings(settings: Any) -> None:
    """Refuse a judge setting a cluster would not honour (it would be dropped silently: the
    original's reasoning-effort defect): verbosity the bus cannot carry, the batch API."""
    from cjgrade.bus.events import JudgeRequestData

    if settings.output_verbosity is not None and \
            "output_verbosity" not in JudgeRequestData.model_fields:
        raise ConfigError(
            "--output-verbosity cannot reach the workers of a cluster: the comparison request "
            "on the bus has no verbosity field; leave it out, or run embedded (without "
            "--kafka-bootstrap / KAFKA_BOOTSTRAP_SERVERS)")
    if settings.llm_batching_mode == "provider_batch_api":
        raise ConfigError(
            "--llm-batching-mode provider_batch_api runs embedded only (this process submits and "
            "polls the provider's batch); a cluster's workers send one request per comparison: "
            "use per_request, or run embedded (without --kafka-bootstrap)")


@dataclass(frozen=True)
class _Ready:
    """A cluster run validated completely (nothing written yet)."""

    prepared: Any
    """12A's :class:`cjgrade.runner.eng5.prepare.Prepared` (spec, judge, prompts, inputs)."""
    context: AssignmentContext
    api_url: str
    token: str | None


async def _prepare(settings: Any) -> _Ready:
    from cjgrade.engine.options import merge_options
    from cjgrade.errors import BusError
    from cjgrade.runner.eng5.env_checks import check_broker
    from cjgrade.runner.eng5.inputs import read_inputs
    from cjgrade.runner.eng5.judge_settings import (
        batch_option_overrides,
        check_judge,
        judge_name,
        load_prompts,
    )
    from cjgrade.runner.eng5.preflight import api_target
    from cjgrade.runner.eng5.prepare import AssignmentInfo, Prepared, check_capacity
    from cjgrade.runner.eng5.register import scale_from_api
    from cjgrade.runner.folder_spec import inputs_manifest
    from cjgrade.scales import BUILTIN_SCALES

    judge = judge_name(settings)
    assert judge is not None
    check_judge(settings, judge)
    check_cluster_settings(settings)
    prompts = load_prompts(settings)
    options = merge_options(BatchOptions(), batch_option_overrides(settings),
                            source="command line")
    api_url, token = api_target(settings)
    broker = await check_broker(settings.kafka_bootstrap)
    if not broker.ok:  # before anything is uploaded or written
        raise BusError(f"the Kafka broker {broker.detail}")
    async with ApiClient(api_url, token) as client:
        context, summary = await preflights(
            client, settings.assignment_id, expected_grade_scale=settings.expected_grade_scale,
            rubric_override=prompts.rubric is not None,
            anchor_dir_hint=str(settings.anchor_dir or settings.input_dir / "anchor_essays"))
        scale = scale_from_api(await client.list_scales(), context.grade_scale)
        builtin = {b.scale_id for b in BUILTIN_SCALES}
        inputs = read_inputs(settings.input_dir, scale_id=scale.scale_id,
                             user_scales=() if scale.scale_id in builtin else (scale,),
                             need_anchors=False, need_instructions=False)
        students = tuple(Essay(id=e.essay_id, text=e.text, label=e.file_name)
                         for e in inputs.folder.students)
        capacity = check_capacity(summary.anchor_count, len(students),
                                  what="registered anchors x students")
        spec = await spec_from_api(
            client, context, summary, students, judge=judge, options=options,
            label=settings.batch_id, system_prompt=prompts.system_prompt,
            rubric_override=prompts.rubric, base_url=settings.llm_base_url)
    manifest = inputs_manifest(inputs.folder)
    if not inputs.folder.instructions.sha256:  # the assignment's instructions are used
        manifest["instructions"] = None
    by_grade: dict[str, int] = {}
    for anchor in summary.anchors:
        by_grade[anchor.grade] = by_grade.get(anchor.grade, 0) + 1
    info = AssignmentInfo(
        assignment_id=context.assignment_id, grade_scale=context.grade_scale,
        context_origin=context.context_origin, student_prompt=context.has_student_prompt,
        judge_rubric=context.judge_rubric_storage_id is not None,
        anchor_count=summary.anchor_count, anchors_by_grade=dict(sorted(by_grade.items())))
    prepared = Prepared(settings, inputs, judge, prompts, replace(spec, inputs=manifest), info,
                        capacity)
    return _Ready(prepared, context, api_url, token)


@dataclass
class _Collected:
    outcome: AssessmentOutcome | None
    """None when the run did not wait (no --await-completion)."""
    upload: UploadReport
    base: dict[str, Any] | None = None
    """The server's artefact of the finished batch."""
    note: str | None = None
    """Why a failed batch has no server artefact."""


async def _submit(settings: Any, ready: _Ready) -> _Collected:
    from cjgrade.api.client import ApiServerError
    from cjgrade.errors import StorageError
    from cjgrade.runner.eng5.remote_artefact import fetch_batch_artefact

    async with ApiClient(ready.api_url, ready.token) as client:
        outcome, report, _, _ = await submit_and_collect(
            client, ready.prepared.spec, ready.context, bootstrap=settings.kafka_bootstrap,
            batch_uuid=settings.batch_uuid, run_dir=settings.run_dir(),
            cache_dir=settings.output_root(), force_reupload=settings.force_reupload,
            await_completion=settings.await_completion,
            completion_timeout=settings.completion_timeout)
        collected = _Collected(outcome, report)
        if outcome is None or outcome.partial:
            return collected
        try:
            collected.base = await fetch_batch_artefact(client, settings.batch_uuid)
        except ApiServerError as exc:
            if outcome.failed is None:
                raise
            collected.note = f"the server could not build the failed batch's artefact ({exc})"
    if collected.base is None and outcome.failed is None:
        raise StorageError(
            f"batch {settings.batch_uuid} completed, but the API at {ready.api_url} has no "
            "artefact for it; its events are in events/ under the run folder; export it later "
            f"with `cjgrade batches export {settings.batch_uuid}`")
    return collected


def _unfinished(settings: Any, ready: _Ready, collected: _Collected) -> dict[str, Any]:
    """The artefact base of a batch without a server artefact (see :mod:`remote_artefact`)."""
    from cjgrade.runner.eng5.remote_artefact import unfinished_artefact

    outcome, spec = collected.outcome, ready.prepared.spec
    failure: str | None = None
    if outcome is None:
        status, stop, why = "running", "not_awaited", (
            "the runner did not wait (no --await-completion); the batch runs on the cluster")
    elif outcome.partial:
        status, stop, why = "running", "completion_timeout", (
            f"partial data: the runner stopped waiting after {outcome.waited_s:.0f} s "
            f"(--completion-timeout {settings.completion_timeout:g}); the batch may still be "
            "running")
    else:
        assert outcome.failed is not None
        status, stop = "failed", outcome.failed.reason
        failure = outcome.failed.details or outcome.failed.reason
        why = f"the batch failed ({outcome.failed.reason}): {failure}" + (
            f"; {collected.note}" if collected.note else "")
    return unfinished_artefact(
        spec.inputs, batch_uuid=settings.batch_uuid, label=settings.batch_id,
        assignment_id=settings.assignment_id, grade_scale=spec.grade_scale,
        judge=ready.prepared.judge, options=spec.options.to_dict(), status=status,
        stop_reason=stop, failure_reason=failure,
        events=outcome.comparisons.values() if outcome is not None else (), reason=why)


def _finish(settings: Any, ready: _Ready, collected: _Collected) -> int:
    """Extraction (R5), the artefact (validated on write) and the summary; the exit code."""
    from cjgrade.runner.eng5.artefact import extend_artefact, write_runner_artefact
    from cjgrade.runner.eng5.summary import print_summary

    outcome, run_dir = collected.outcome, settings.run_dir()
    if collected.base is not None:
        base = dict(collected.base, inputs=ready.prepared.spec.inputs)
    else:
        base = _unfinished(settings, ready, collected)
    code = exit_codes.OK
    if outcome is not None and outcome.partial:
        code = exit_codes.TIMEOUT_PARTIAL
    elif outcome is not None and outcome.failed is not None:
        code = exit_codes.SERVICE_FAILURE
    post_run: dict[str, Any] = {"eng5_db_extract": None}
    if settings.auto_extract_eng5_db and outcome is not None:
        if outcome.status == "completed" and not outcome.partial:
            from cjgrade.runner.eng5.extract import extract_for_artefact

            post_run["eng5_db_extract"] = extract_for_artefact(
                settings.database_url, settings.batch_uuid, run_dir)
            if post_run["eng5_db_extract"]["status"] != "succeeded":
                code = exit_codes.EXTRACTION_FAILED
        else:
            post_run["eng5_db_extract"] = {"status": "skipped",
                                           "reason": "no_completion_observed",
                                           "batch_uuid": settings.batch_uuid}
    record = ready.prepared.runner_record("execute")
    record["cluster"] = {"api_url": ready.api_url, "kafka_bootstrap": settings.kafka_bootstrap,
                         "upload_cache": collected.upload.as_dict()}
    doc = extend_artefact(base, record, run_dir=run_dir,
                          status=runner_status(outcome, settings.completion_timeout),
                          post_run=post_run)
    paths = write_runner_artefact(doc, run_dir, "execute",
                                  artefact_format=settings.artefact_format)
    if collected.base is not None:  # a finished batch: the same reports as an embedded run
        from cjgrade.reports import write_reports

        paths.update({f"report {k}": v for k, v in write_reports(doc, run_dir).items()})
    print_summary(doc, paths)
    return code
