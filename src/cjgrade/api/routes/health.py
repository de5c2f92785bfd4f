"""``GET /healthz`` (live) and ``GET /readyz`` (ready to work); both open, no token.

* ``/healthz``: 200 while the process serves and its database answers a trivial query.
* ``/readyz``: 200 only when the database answers and every readiness check registered by a
  lifespan hook passes (with ``cjgrade serve --bootstrap``: the broker answered and the
  orchestrator runs, or stands by behind another instance); else 503. The body names each
  check's state either way, e.g.
  ``{"status": "unready", "checks": {"database": "ok", "broker": "unreachable",
  "orchestrator": "waiting_for_broker"}}``.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from cjgrade.api.errors import ApiProblem
from cjgrade.api.schemas import Health

router = APIRouter(tags=["operations"])
_log = logging.getLogger("cjgrade.api")


async def _database_ok(request: Request) -> bool:
    store = request.app.state.store
    try:
        async with store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not healthy"
        # An open route: where the database is goes to the log, not to the caller.
        _log.error("health check: database %s does not answer: %r", store.display_url, exc)
        return False
    return True


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness and database check (open, no token)",
    responses={503: {"description": "The database does not answer"}},
)
async def read_health(request: Request) -> Health:
    if not await _database_ok(request):
        raise ApiProblem("the database does not answer", status=503)
    return Health(status="ok", database="ok")


@router.get(
    "/readyz",
    summary="Readiness: database, broker and orchestrator (open, no token)",
    responses={200: {"description": "Ready; the body lists each check"},
               503: {"description": "Not ready; the body says which check fails"}},
)
async def read_readiness(request: Request) -> JSONResponse:
    checks = {"database": "ok" if await _database_ok(request) else "unreachable"}
    for check in request.app.state.readiness_checks:
        checks.update(check())
    ready = all(v == "ok" or v.startswith("ok ") for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "unready", "checks": checks},
                        status_code=200 if ready else 503)
