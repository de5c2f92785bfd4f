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
from dataclasses import dataclass
from typing import Any

from cjgrade.api.client import ApiClient
from cjgrade.distributed.submit import AssessmentOutcome
from cjgrade.errors import ConfigError
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.api_prepare import ApiPrepared, prepare_through_api
from cjgrade.runner.eng5.cluster import runner_status, submit_and_collect
from cjgrade.runner.eng5.upload_cache import UploadReport

__all__ = ["check_cluster_settings", "prepare_cluster_run", "run"]


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
    run_dir = settings.run_dir()
    check_output_dir(run_dir, "--output-dir")
    ready = asyncio.run(prepare_cluster_run(settings))
    echo_run_ids(settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    with verbose_log(settings, run_dir):
        collected = asyncio.run(_submit(settings, ready))
        return _finish(settings, ready, collected)


def check_cluster_settings(settings: Any) -> None:
    """Refuse a setting a cluster would not honour (it would be dropped silently: the
    original's reasoning-effort defect): a database URL, verbosity the bus cannot carry, the
    batch API."""
    from cjgrade.bus.events import JudgeRequestData

    if settings.database_url:
        raise ConfigError(
            "--database-url is the store of an embedded run; a cluster run reads and writes "
            "everything through the API (the extract of --auto-extract-eng5-db included): drop "
            "it, or run embedded (without --kafka-bootstrap / KAFKA_BOOTSTRAP_SERVERS)")
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


async def prepare_cluster_run(settings: Any) -> ApiPrepared:
    """Validate a cluster execute completely, nothing written or uploaded: the local checks
    (judge, prompts), the settings a cluster cannot honour, the broker, then the assignment,
    its anchors, the students and the spec through the API
    (:func:`cjgrade.runner.eng5.api_prepare.prepare_through_api`)."""
    from cjgrade.errors import BusError
    from cjgrade.runner.eng5.env_checks import check_broker

    async def cluster_checks() -> None:
        check_cluster_settings(settings)
        broker = await check_broker(settings.kafka_bootstrap)
        if not broker.ok:  # before anything is uploaded or written
            raise BusError(f"the Kafka broker {broker.detail}")

    return await prepare_through_api(settings, before_api=cluster_checks)


@dataclass
class _Collected:
    outcome: AssessmentOutcome | None
    """None when the run did not wait (no --await-completion)."""
    upload: UploadReport
    base: dict[str, Any] | None = None
    """The server's artefact of the finished batch."""
    note: str | None = None
    """Why a failed batch has no server artefact."""


async def _submit(settings: Any, ready: ApiPrepared) -> _Collected:
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


def _unfinished(settings: Any, ready: ApiPrepared, collected: _Collected) -> dict[str, Any]:
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


def _finish(settings: Any, ready: ApiPrepared, collected: _Collected) -> int:
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

            if collected.base is None:  # a failed batch the server has no artefact for
                post_run["eng5_db_extract"] = {"status": "skipped", "reason": "no_artefact",
                                               "batch_uuid": settings.batch_uuid}
            else:
                post_run["eng5_db_extract"] = extract_for_artefact(
                    collected.base, run_dir, source=f"the batch artefact from the API at "
                    f"{ready.api_url} (GET /v1/batches/{settings.batch_uuid}/artefact)")
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
