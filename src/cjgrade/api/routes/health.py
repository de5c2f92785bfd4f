"""``GET /healthz``: open, answers 200 only when the database answers a trivial query."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from sqlalchemy import text

from cjgrade.api.errors import ApiProblem
from cjgrade.api.schemas import Health

router = APIRouter(tags=["operations"])
_log = logging.getLogger("cjgrade.api")


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness and database check (open, no token)",
    responses={503: {"description": "The database does not answer"}},
)
async def read_health(request: Request) -> Health:
    store = request.app.state.store
    try:
        async with store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not healthy"
        # An open route: where the database is goes to the log, not to the caller.
        _log.error("health check: database %s does not answer: %r", store.display_url, exc)
        raise ApiProblem("the database does not answer", status=503) from exc
    return Health(status="ok", database="ok")
