"""/healthz, /metrics, the lifespan hook list and the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from cjgrade.api import create_app
from cjgrade.config import load_settings
from cjgrade.errors import StorageError

from .conftest import Api


async def test_healthz_checks_the_database(api: Api) -> None:
    """/healthz is 200 while the database answers and 503 problem+json once it is gone."""
    async with api.client(role=None) as client:
        ok = await client.get("/healthz")
        assert ok.status_code == 200 and ok.json() == {"status": "ok", "database": "ok"}
        broken_url = "sqlite+aiosqlite:////nonexistent-dir/never/there.sqlite3"
        from cjgrade.store import create_engine

        original = api.store.engine
        api.store.engine = create_engine(broken_url)
        try:
            down = await client.get("/healthz")
        finally:
            await api.store.engine.dispose()
            api.store.engine = original
    assert down.status_code == 503
    assert down.headers["content-type"].startswith("application/problem+json")
    assert "does not answer" in down.json()["detail"]
    assert "nonexistent-dir" not in down.text  # an open route names no database


async def test_metrics_count_requests_by_route_template(api: Api) -> None:
    """/metrics is Prometheus text counting requests under the route template, not the path."""
    async with api.client(role="read") as client:
        for storage_id in ("a" * 64, "b" * 64):
            await client.get(f"/v1/content/{storage_id}")
        text = (await client.get("/metrics")).text
    line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith("cjgrade_http_requests_total{")
        and 'route="/v1/content/{storage_id}"' in ln
        and 'status="404"' in ln
    )
    assert line.endswith(" 2.0")
    assert "a" * 64 not in text
    assert "cjgrade_http_request_duration_seconds_bucket" in text


async def test_lifespan_hooks_run_inside_the_store_lifetime(
    database_url: str, tmp_path: Path
) -> None:
    """Hooks are entered in order after the store opens and left in reverse before it closes;
    hooks appended to app.state.lifespan_hooks before start-up run too."""
    events: list[str] = []

    def hook(name: str) -> Any:
        @asynccontextmanager
        async def run(app: Any) -> AsyncIterator[None]:
            assert app.state.store is not None
            events.append(f"enter {name}")
            yield
            events.append(f"exit {name}")

        return run

    settings = load_settings(env={"CJGRADE_HOME": str(tmp_path)}, database_url=database_url)
    app = create_app(settings, lifespan_hooks=[hook("a")])
    app.state.lifespan_hooks.append(hook("b"))
    async with app.router.lifespan_context(app):
        events.append("serving")
    assert events == ["enter a", "enter b", "serving", "exit b", "exit a"]


async def test_openapi_documents_security_and_problem_responses(api: Api) -> None:
    """The schema declares bearer auth on protected operations and none on the open ones."""
    async with api.client(role=None) as client:
        schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme", "").lower() == "bearer" for s in schemes.values())
    assert "security" in schema["paths"]["/admin/v1/scales"]["get"]
    assert "security" not in schema["paths"]["/healthz"]["get"]
    upload = schema["paths"]["/v1/content"]["post"]["requestBody"]["content"]
    assert "application/octet-stream" in upload


async def test_database_outage_is_503_not_a_traceback(api: Api) -> None:
    """When the database stops answering, requests get a 503 problem (no internals leaked)."""
    from cjgrade.store import create_engine

    original = api.store.engine
    api.store.engine = create_engine("postgresql://nobody@127.0.0.1:9/none")
    api.store.sessions.configure(bind=api.store.engine)
    try:
        async with api.client() as client:
            response = await client.get("/admin/v1/scales")
    finally:
        await api.store.engine.dispose()
        api.store.engine = original
        api.store.sessions.configure(bind=original)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "nobody" not in response.text and "Traceback" not in response.text


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RuntimeError("secret internals"), 500),
        (StorageError("database postgresql+asyncpg://dbuser:***@secret.internal/x failed"), 503),
    ],
)
async def test_internal_errors_are_generic_problems(
    api: Api, error: Exception, status: int
) -> None:
    """A bug (500) or a storage failure (503; its message names the database host and user)
    in a guarded route answers a generic problem+json: the details stay in the server log."""
    from fastapi import Depends

    from cjgrade.api.auth import ANY_ROLE

    async def failing() -> None:
        raise error

    api.app.add_api_route("/failing", failing, dependencies=[Depends(ANY_ROLE)])
    async with api.client(role="read") as client:
        response = await client.get("/failing")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "secret" not in response.text and "dbuser" not in response.text
