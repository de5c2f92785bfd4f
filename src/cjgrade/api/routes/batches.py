"""``/v1/batches``: submit, list, follow, cancel and fetch the results of batches.

Submitting (roles admin, runner) checks everything first (:mod:`cjgrade.api.routes.batch_spec`),
then writes the batch (status ``created``) and its ``assessment.requested`` event to the
outbox in one transaction. The orchestrator runs it on the workers: its outbox relay publishes
the request (woken at once when the orchestrator runs in this app; or the app's bus transport,
``app.state.bus``, publishes it) and its resume loop picks up any unfinished batch with a free
lease, so a request is never lost between "stored" and "published". A server that is not part
of a distributed deployment (no orchestrator in this app, ``app.state.orchestrator_service``;
no ``app.state.bus``; no ``KAFKA_BOOTSTRAP_SERVERS``) answers 409 and writes nothing: no
process would ever run the batch. See docs/batches.md.

The result, the artefact and the reports of a finished batch are computed from the stored
comparisons (:func:`cjgrade.reports.export.batch_artefact`) and kept in a small per-app cache:
a finished batch never changes.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from cjgrade.api.auth import ANY_ROLE, UPLOADERS, Principal
from cjgrade.api.errors import ApiProblem
from cjgrade.api.routes._common import store_of
from cjgrade.api.routes.batch_spec import checked_spec
from cjgrade.api.schemas import (
    BATCH_UUID_PATTERN,
    BatchPage,
    BatchProgressOut,
    BatchResultOut,
    BatchStatusName,
    BatchSubmit,
    BatchSubmitted,
    EssayResultOut,
)
from cjgrade.engine.options import DEFAULT_COMPARISONS_PER_ESSAY
from cjgrade.errors import ConflictError
from cjgrade.store import require_batch, set_batch_status
from cjgrade.store.batch_progress import BatchProgress, batch_progress, list_batch_progress

router = APIRouter(tags=["batches"])

BatchPath = Path(pattern=BATCH_UUID_PATTERN, description="The batch uuid (canonical uuid4).")
CACHE_SIZE = 16
NO_ORCHESTRATOR = (
    "this server runs no batch orchestrator and knows no Kafka broker, so nothing would run the "
    "batch; nothing was stored. Start the server with `cjgrade serve --bootstrap HOST:PORT` "
    "(or KAFKA_BOOTSTRAP_SERVERS) and at least one `cjgrade worker`, or run the batch in this "
    "process with `cjgrade run FOLDER`"
)


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=200)] = 50
    status: BatchStatusName | None = None


def orchestrated(app: Any) -> bool:
    """Whether a batch submitted here will run: the app has a bus transport, runs the
    orchestrator, or is configured with a broker (an API-only server of a deployment whose
    orchestrator runs elsewhere)."""
    if getattr(app.state, "bus", None) is not None:
        return True
    # Set by the orchestrator's lifespan hook (cjgrade.distributed.service.attach_orchestrator),
    # running or on standby behind another serve's orchestrator: either way the batch runs.
    if getattr(app.state, "orchestrator_service", None) is not None:
        return True
    settings = getattr(app.state, "settings", None)
    return bool(getattr(settings, "kafka_bootstrap_servers", None))


def progress_out(p: BatchProgress) -> BatchProgressOut:
    b = p.batch
    n_essays = p.n_students + p.n_anchors
    planned = p.budget if p.budget is not None else DEFAULT_COMPARISONS_PER_ESSAY * n_essays
    return BatchProgressOut(
        batch_uuid=b.id, label=b.label, status=b.status, judge=p.judge,
        assignment_id=b.assignment_id or b.settings.get("assignment_ref"),
        grade_scale=b.grade_scale, n_students=p.n_students, n_anchors=p.n_anchors,
        comparisons_planned=planned, comparisons_done=p.done,
        comparisons_succeeded=p.succeeded, comparisons_failed=p.failed,
        comparisons_pending=p.pending, rounds_fitted=p.rounds_fitted,
        reliability=p.reliability, ssr=p.ssr, stop_reason=p.stop_reason, cost_usd=p.cost_usd,
        cost_unknown_comparisons=p.n_cost_unknown, failure_reason=b.failure_reason,
        created_at=b.created_at, updated_at=b.updated_at, finished_at=b.finished_at,
    )


async def _publish_now(app: Any) -> None:
    """Publish the outbox at once: wake the relay of the orchestrator running in this app, or
    publish on the app's bus; else an orchestrator's relay publishes it at its next poll (a
    failure here leaves the row for it: the request is stored either way)."""
    service = getattr(app.state, "orchestrator_service", None)
    orchestrator = getattr(service, "orchestrator", None)
    if orchestrator is not None:
        orchestrator.relay.notify()
        return
    bus = getattr(app.state, "bus", None)
    if bus is None:
        return
    from cjgrade.bus.outbox import OutboxRelay

    try:
        await OutboxRelay(app.state.store, bus).publish_pending()
    except Exception:
        import logging

        logging.getLogger("cjgrade.api").warning("outbox publish failed; the relay retries")


@router.post(
    "/v1/batches",
    response_model=BatchSubmitted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a batch to the orchestrator (roles: admin, runner)",
    responses={
        404: {"description": "Unknown assignment or content id"},
        409: {"description": "No orchestrator would run it, or batch_uuid already used"},
    },
)
async def submit_batch(
    body: BatchSubmit, request: Request, response: Response,
    _: Principal = Depends(UPLOADERS),
) -> BatchSubmitted:
    """Checked completely before anything is written; **202** with the stored batch (status
    ``created``) and the plan's warnings and cost estimate. Follow it at
    ``GET /v1/batches/{uuid}``."""
    from cjgrade.bus.events import AssessmentRequestedV1, make_envelope
    from cjgrade.engine.ledger import BatchLedger
    from cjgrade.engine.spec_codec import request_event

    app = request.app
    store = store_of(request)
    spec, plan = await checked_spec(store, body, app.state.user_scales)
    if not orchestrated(app):
        raise ApiProblem(NO_ORCHESTRATOR, status=409)
    batch_uuid = body.batch_uuid or str(uuid.uuid4())
    envelope = make_envelope(request_event(spec, batch_uuid), correlation_id=batch_uuid,
                             source="cjgrade-api")
    # ConflictError (409) when the uuid is taken; one transaction: batch, essays, texts, event.
    await BatchLedger(store).create_batch(
        spec, batch_uuid,
        [(AssessmentRequestedV1.TOPIC, batch_uuid, envelope.model_dump(mode="json"))],
    )
    await _publish_now(app)
    async with store.transaction() as session:
        progress = progress_out(await batch_progress(session, batch_uuid))
    response.headers["Location"] = f"/v1/batches/{batch_uuid}"
    return BatchSubmitted(**progress.model_dump(), warnings=list(plan.warnings),
                          cost_estimate_usd=plan.cost_total_usd)


@router.get("/v1/batches", response_model=BatchPage,
            summary="List batches, newest first (roles: admin, runner, read)")
async def list_batches(
    request: Request, query: Annotated[ListQuery, Query()], _: Principal = Depends(ANY_ROLE),
) -> BatchPage:
    async with store_of(request).transaction() as session:
        items, total = await list_batch_progress(session, status=query.status, page=query.page,
                                                 page_size=query.page_size)
    return BatchPage(items=[progress_out(p) for p in items], total=total, page=query.page,
                     page_size=query.page_size)


@router.get("/v1/batches/{batch_uuid}", response_model=BatchProgressOut,
            summary="A batch and its progress (roles: admin, runner, read)",
            responses={404: {"description": "Unknown batch"}})
async def get_batch(
    request: Request, batch_uuid: str = BatchPath, _: Principal = Depends(ANY_ROLE),
) -> BatchProgressOut:
    async with store_of(request).transaction() as session:
        return progress_out(await batch_progress(session, batch_uuid))


@router.post(
    "/v1/batches/{batch_uuid}/cancel", response_model=BatchProgressOut,
    summary="Cancel a batch that has not finished (roles: admin, runner)",
    responses={404: {"description": "Unknown batch"},
               409: {"description": "Already finished, or finalising"}},
)
async def cancel_batch(
    request: Request, batch_uuid: str = BatchPath, _: Principal = Depends(UPLOADERS),
) -> BatchProgressOut:
    """No further round is requested; comparisons already requested may still be judged
    (and are stored). Cancelling a cancelled batch answers 200 again."""
    async with store_of(request).transaction() as session:
        batch = await require_batch(session, batch_uuid)
        if batch.status in ("completed", "failed"):
            raise ConflictError(f"batch {batch_uuid} is already {batch.status}; nothing to "
                                "cancel (export it with `cjgrade batches export`)")
        if batch.status == "finalising":
            raise ConflictError(f"batch {batch_uuid} is finalising (its comparisons are all "
                                "judged); it completes in a moment and cannot be cancelled")
        await set_batch_status(session, batch_uuid, "cancelled")
        return progress_out(await batch_progress(session, batch_uuid))


async def _artefact(request: Request, batch_uuid: str) -> dict[str, Any]:
    from cjgrade.reports.export import batch_artefact

    state = request.app.state
    cache: OrderedDict[str, dict[str, Any]] | None = getattr(state, "batch_artefacts", None)
    if cache is None:
        cache = state.batch_artefacts = OrderedDict()
    doc = cache.get(batch_uuid)
    if doc is None:
        doc = await batch_artefact(store_of(request), batch_uuid)
        cache[batch_uuid] = doc
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    cache.move_to_end(batch_uuid)
    return doc


_FINISHED_ONLY: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown batch"},
    409: {"description": "The batch has not finished (or was cancelled)"},
}


@router.get("/v1/batches/{batch_uuid}/result", response_model=BatchResultOut,
            summary="The result of a finished batch (roles: admin, runner, read)",
            responses=_FINISHED_ONLY)
async def get_result(
    request: Request, batch_uuid: str = BatchPath, _: Principal = Depends(ANY_ROLE),
) -> BatchResultOut:
    doc = await _artefact(request, batch_uuid)
    meta, quality, costs = doc["metadata"], doc["quality"], doc["costs"]
    essays = []
    for e in sorted(doc["essays"], key=lambda e: e["rank"]):
        g = e.get("grade_projection") or {}
        essays.append(EssayResultOut(
            essay_id=e["essay_id"], file_name=e.get("file_name"), is_anchor=e["is_anchor"],
            anchor_grade=e.get("anchor_grade"), rank=e["rank"], theta=e["theta"], se=e["se"],
            comparison_count=e["comparison_count"], grade=g.get("grade"),
            grade_probabilities=g.get("probabilities"), grade_confidence=g.get("confidence"),
            grade_reliable=g.get("reliable"),
        ))
    return BatchResultOut(
        batch_uuid=meta["batch_uuid"], status=meta["status"], stop_reason=meta["stop_reason"],
        failure_reason=meta.get("failure_reason"), quality_status=quality["status"],
        grades_reliable=quality["grades_reliable"],
        reliability=doc["reliability"].get("posterior_reliability"),
        ssr=doc["reliability"].get("ssr"), cost_usd=costs["total_usd"],
        n_comparisons=costs["n_comparisons"], n_succeeded=costs["n_succeeded"],
        n_failed=costs["n_failed"], essays=essays,
    )


@router.get("/v1/batches/{batch_uuid}/artefact",
            summary="The JSON artefact of a finished batch (roles: admin, runner, read)",
            responses={**_FINISHED_ONLY, 200: {"content": {"application/json": {}},
                                               "description": "assessment_run.json"}})
async def get_artefact(
    request: Request, batch_uuid: str = BatchPath, _: Principal = Depends(ANY_ROLE),
) -> JSONResponse:
    """The artefact (docs/artefact.md), validated against the shipped schema and
    checksummed; ``cjgrade report`` renders it again."""
    return JSONResponse(await _artefact(request, batch_uuid))


@router.get("/v1/batches/{batch_uuid}/report.md", response_class=PlainTextResponse,
            summary="The Markdown report of a finished batch (roles: admin, runner, read)",
            responses={**_FINISHED_ONLY, 200: {"content": {"text/markdown": {}},
                                               "description": "report.md"}})
async def get_report_markdown(
    request: Request, batch_uuid: str = BatchPath, _: Principal = Depends(ANY_ROLE),
) -> PlainTextResponse:
    from cjgrade.reports import render_markdown

    doc = await _artefact(request, batch_uuid)
    return PlainTextResponse(render_markdown(doc), media_type="text/markdown; charset=utf-8")


@router.get("/v1/batches/{batch_uuid}/report.html", response_class=HTMLResponse,
            summary="The HTML report of a finished batch (roles: admin, runner, read)",
            responses=_FINISHED_ONLY)
async def get_report_html(
    request: Request, batch_uuid: str = BatchPath, _: Principal = Depends(ANY_ROLE),
) -> HTMLResponse:
    from cjgrade.reports import render_html

    return HTMLResponse(render_html(await _artefact(request, batch_uuid)))
