"""Building blocks of a cluster execute (:mod:`cjgrade.runner.eng5.remote` is the mode):
the preflights and the batch spec read through the API, the uploads through the cache, the
request on the bus, the collected events saved as files.

The runner's machine needs the API URL, a runner token and the broker, never database
credentials: everything it reads or writes goes through the API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cjgrade.api.client import ApiAuthError, ApiClient, ApiForbidden, ApiNotFound
from cjgrade.api.schemas import AnchorSummary
from cjgrade.bus.events import AssessmentRequestedV1, EnvelopeModel, make_envelope
from cjgrade.display import printable
from cjgrade.distributed.submit import AssessmentOutcome, AssessmentWatcher
from cjgrade.domain import Essay
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.engine.spec_codec import request_event
from cjgrade.errors import InputError, StorageError
from cjgrade.runner.eng5.preflight import (
    AssignmentContext,
    anchor_preflight,
    assignment_preflight,
    explain_api_error,
)
from cjgrade.runner.eng5.upload_cache import UploadCache, UploadReport, upload_texts
from cjgrade.store.content import content_id

__all__ = [
    "GRACE_S",
    "event_files",
    "preflights",
    "publish_and_collect",
    "runner_status",
    "spec_from_api",
    "submit_and_collect",
    "upload_spec_texts",
]

GRACE_S = 10.0
"""How long the collector waits for the rich result after the completion event."""
SOURCE = "eng5-np-runner"


async def _anchor_texts(client: ApiClient, summary: AnchorSummary) -> list[Essay]:
    """The registered anchors as essays, their texts read from the server by content id."""
    gate = asyncio.Semaphore(8)

    async def one(anchor: Any) -> Essay:
        async with gate:
            try:
                text = await client.get_content(anchor.text_storage_id)
            except ApiNotFound as exc:
                raise InputError(
                    f"anchor {printable(anchor.anchor_label)} of {printable(anchor.assignment_id)}"
                    f" names content {anchor.text_storage_id} that the server no longer has; "
                    f"register it again with `eng5-np-run register-anchors "
                    f"{printable(anchor.assignment_id)} --anchor-dir PATH`"
                ) from exc
        if content_id(text) != anchor.text_storage_id:
            raise StorageError(
                f"the server returned a text for content id {anchor.text_storage_id} whose "
                "SHA-256 differs; the server's content store is inconsistent"
            )
        return Essay(id=f"anchor:{anchor.anchor_label}", text=text, is_anchor=True,
                     grade=anchor.grade, label=anchor.anchor_label)

    return list(await asyncio.gather(*(one(a) for a in summary.anchors)))


async def spec_from_api(
    client: ApiClient,
    context: AssignmentContext,
    summary: AnchorSummary,
    students: Sequence[Essay],
    *,
    judge: str,
    options: BatchOptions,
    label: str | None,
    system_prompt: str = "",
    rubric_override: str | None = None,
    base_url: str | None = None,
) -> BatchSpec:
    """The validated batch spec of a student-only run, everything read through the API.

    It matches what the embedded path builds from the store
    (:func:`cjgrade.engine.ledger.spec_for_assignment`): anchors ``anchor:<label>`` of the
    assignment's scale (their stored texts, read by content id, which also proves the server
    still has them), its instructions, student prompt and judge rubric (or the override).

    Raises
    ------
    InputError
        An anchor text gone from the server, a student id that collides with an anchor id, a
        spec the engine refuses (the engine's own checks).
    ConfigError
        401/403 (with the token command), unreachable API.
    """
    try:
        anchors = await _anchor_texts(client, summary)
        prompt = (await client.get_student_prompt(context.assignment_id)).text
        rubric = rubric_override
        if rubric is None and context.judge_rubric_storage_id:
            rubric = (await client.get_judge_rubric(context.assignment_id)).text
    except (ApiAuthError, ApiForbidden) as exc:
        raise explain_api_error(exc, client.base_url, what="reading the assignment's texts") \
            from exc
    clash = {e.id for e in anchors} & {s.id for s in students}
    if clash:
        raise InputError(f"student essay ids {sorted(clash)[:5]} collide with anchor ids; "
                         "rename those student files")
    spec = BatchSpec(
        essays=tuple(anchors) + tuple(students), instructions=context.instructions_text,
        student_prompt=prompt, rubric=rubric or "", system_prompt=system_prompt, judge=judge,
        grade_scale=context.grade_scale, label=label, assignment_ref=context.assignment_id,
        base_url=base_url, grades_requested=True, options=options,
    )
    validate_spec(spec)
    return spec


async def preflights(client: ApiClient, assignment_id: str, *,
                     expected_grade_scale: str | None, rubric_override: bool,
                     anchor_dir_hint: str = "PATH", echo: Callable[[str], None] = print,
                     ) -> tuple[AssignmentContext, AnchorSummary]:
    """R3 then R4, each line printed; nothing is written."""
    context = await assignment_preflight(
        client, assignment_id, expected_grade_scale=expected_grade_scale,
        require_student_prompt=True, rubric_override=rubric_override)
    echo(context.describe(client.base_url))
    summary = await anchor_preflight(client, context, anchor_dir_hint=anchor_dir_hint)
    grades = sorted({a.grade for a in summary.anchors})
    echo(f"Anchors: {summary.anchor_count} registered on {summary.grade_scale} "
         f"({', '.join(grades)}); execute sends students only")
    return context, summary


async def upload_spec_texts(client: ApiClient, spec: BatchSpec, context: AssignmentContext,
                            cache: UploadCache) -> UploadReport:
    """Upload what the server lacks (students, a system prompt, a rubric override) through the
    cache; the request then references every text by its SHA-256
    (:func:`cjgrade.engine.spec_codec.request_event`).

    The assignment's instructions and prompt are on the server already (their ids come with
    the assignment); the anchors were read from it.
    """
    wanted: dict[str, str] = {f"essay {e.id}": e.text for e in spec.students}
    for name in ("system_prompt", "rubric"):
        value = getattr(spec, name)
        if value.strip():
            wanted[name] = value
    ids, report = await upload_texts(client, wanted, cache)
    for name, text in wanted.items():
        if ids[name] != content_id(text):
            raise StorageError(
                f"the server stored {name} as {ids[name]}, not as its SHA-256; the request "
                "references texts by SHA-256, so this server cannot run it"
            )
    if content_id(spec.instructions) != context.instructions_storage_id:
        raise StorageError(
            f"the instructions of {printable(context.assignment_id)} read from the API do not "
            f"match their stored id {context.instructions_storage_id}; the server's content "
            "store is inconsistent")
    if context.student_prompt_storage_id and \
            content_id(spec.student_prompt) != context.student_prompt_storage_id:
        raise StorageError(
            f"the student prompt of {printable(context.assignment_id)} read from the API does "
            f"not match its stored id {context.student_prompt_storage_id}; the server's content "
            "store is inconsistent")
    return report


def _write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def event_files(run_dir: Path, outcome: AssessmentOutcome) -> list[Path]:
    """Save the collected events under ``run_dir/events/`` (one file per event; names carry the
    comparison id or the batch uuid, so nothing collides); returns the paths written."""
    events = run_dir / "events"
    written = [
        _write_json(events / "comparisons" / f"comparison_{cid:06d}.json",
                    event.model_dump(mode="json"))
        for cid, event in sorted(outcome.comparisons.items())
    ]
    singles = (("completions", "batch_completed", outcome.completed),
               ("assessment_results", "assessment_result", outcome.result),
               ("failures", "batch_failed", outcome.failed))
    for folder, stem, event in singles:
        if event is not None:
            written.append(_write_json(events / folder / f"{stem}_{outcome.batch_uuid}.json",
                                       event.model_dump(mode="json")))
    return written


def runner_status(outcome: AssessmentOutcome | None, timeout_s: float) -> dict[str, Any]:
    """``validation.runner_status`` of a cluster run: ``partial_data`` and ``timeout_seconds``
    (how long it waited) when the wait ended at the timeout, the observed event counts, and
    what the collector dropped as duplicates."""
    from cjgrade.runner.eng5.artefact import runner_status as status_record

    if outcome is None:
        record = status_record()
        record.update(awaited=False, batch_status="running", failures=0, duplicates=0)
        return record
    record = status_record(
        partial_data=outcome.partial,
        timeout_seconds=round(outcome.waited_s, 3) if outcome.partial else None,
        comparisons=len(outcome.comparisons),
        assessment_results=int(outcome.result is not None),
        completions=int(outcome.completed is not None))
    record.update(awaited=True, batch_status=outcome.status if not outcome.partial else "running",
                  completion_timeout_seconds=timeout_s, waited_seconds=round(outcome.waited_s, 3),
                  failures=int(outcome.failed is not None), duplicates=outcome.duplicates)
    return record


async def publish_and_collect(
    bootstrap: str,
    envelope: EnvelopeModel,
    *,
    await_completion: bool,
    timeout_s: float,
    grace_s: float = GRACE_S,
    transport_options: Mapping[str, Any] | None = None,
    run_dir: Path | None = None,
) -> AssessmentOutcome | None:
    """Publish the request; with ``await_completion`` collect the batch's events (the watcher
    subscribes before the request is published, so no event is missed). Interrupted (Ctrl-C)
    while waiting, the events that arrived are still saved under ``run_dir/events/``."""
    from cjgrade.bus.kafka import KafkaTransport

    batch_uuid = str(envelope.key)
    async with KafkaTransport(bootstrap, client_id=SOURCE,
                              **dict(transport_options or {})) as bus:
        if not await_completion:
            await bus.publish(AssessmentRequestedV1.TOPIC, envelope)
            return None
        async with AssessmentWatcher(bus, batch_uuid, grace_s=grace_s) as watcher:
            await bus.publish(AssessmentRequestedV1.TOPIC, envelope)
            try:
                return await watcher.wait(timeout_s)
            except asyncio.CancelledError:
                if run_dir is not None:
                    event_files(run_dir, watcher.outcome)
                raise


async def submit_and_collect(
    client: ApiClient,
    spec: BatchSpec,
    context: AssignmentContext,
    *,
    bootstrap: str,
    batch_uuid: str,
    run_dir: Path,
    cache_dir: Path,
    force_reupload: bool = False,
    await_completion: bool = False,
    completion_timeout: float = 1800.0,
    grace_s: float = GRACE_S,
    transport_options: Mapping[str, Any] | None = None,
    echo: Callable[[str], None] = print,
) -> tuple[AssessmentOutcome | None, UploadReport, Path, list[Path]]:
    """Upload through the cache, write ``requests/``, publish, collect, write ``events/``.
    Returns (outcome or None when not awaited, upload report, request file, event files)."""
    cache = UploadCache.load(cache_dir, client.base_url, force=force_reupload)
    for note in cache.notes:
        echo(note)
    report = await upload_spec_texts(client, spec, context, cache)
    echo(report.line())
    event = request_event(spec, batch_uuid)
    envelope = make_envelope(event, correlation_id=batch_uuid, source=SOURCE)
    request_file = _write_json(run_dir / "requests" / f"assessment_request_{batch_uuid}.json",
                               envelope.model_dump(mode="json"))
    outcome = await publish_and_collect(
        bootstrap, envelope, await_completion=await_completion, timeout_s=completion_timeout,
        grace_s=grace_s, transport_options=transport_options, run_dir=run_dir)
    if outcome is None:
        echo(f"Published the request to {bootstrap}; not awaiting completion "
             "(--await-completion collects the results)")
        return None, report, request_file, []
    files = event_files(run_dir, outcome)
    echo(f"Observed events -> comparisons: {len(outcome.comparisons)}, assessment_results: "
         f"{int(outcome.result is not None)}, completions: {int(outcome.completed is not None)}, "
         f"failures: {int(outcome.failed is not None)} (duplicates dropped: "
         f"{outcome.duplicates})")
    if outcome.partial:
        echo(f"WARNING: partial data: the batch did not finish within {completion_timeout:g} s "
             f"(it may still be running: `cjgrade batches watch {batch_uuid}`)")
    elif outcome.failed is not None:
        echo(f"Batch failed: {outcome.failed.reason}: {outcome.failed.details}")
    return outcome, report, request_file, files
