"""The application factory: :func:`create_app`.

``create_app(settings)`` builds a FastAPI app whose lifespan opens the store (migrating it),
then enters each *lifespan hook* in order, and on shutdown leaves them in reverse order and
closes the store. A hook is any ``(app) -> async context manager``; the engine/orchestrator
attaches itself that way (``create_app(settings, lifespan_hooks=[run_orchestrator])`` or
``app.state.lifespan_hooks.append(...)`` before start-up), and finds the store on
``app.state.store`` and the Prometheus registry on ``app.state.metrics_registry``.

Open routes (no token): ``/healthz``, ``/readyz``, ``/metrics``, ``/docs``,
``/docs/oauth2-redirect``, ``/redoc``, ``/openapi.json``. Everything else needs a bearer token
with the right role; the lifespan refuses to start while any other route lacks a role guard.

Grade scales: the built-ins plus the user scales of ``settings.scales_file``
(``CJGRADE_SCALES_FILE``), loaded once when the app is built (``app.state.user_scales``); the
store, ``GET /admin/v1/scales`` and the OpenAPI enum of ``grade_scale`` all use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from cjgrade import __version__
from cjgrade.api.auth import Principal, Role, check_route_guards
from cjgrade.api.errors import Problem, install_error_handlers
from cjgrade.api.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from cjgrade.api.metrics import HttpMetrics, RequestMetricsMiddleware
from cjgrade.api.metrics import router as metrics_router
from cjgrade.config import Settings, load_settings
from cjgrade.errors import ConfigError

__all__ = ["OPEN_PATHS", "LifespanHook", "create_app"]

LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[Any]]

OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc",
     "/openapi.json"}
)
"""Routes reachable without a token; the route-table test checks that nothing else is."""

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": desc, "content": {"application/problem+json": {}}}
    for code, desc in (
        (400, "Body not readable (not UTF-8 JSON)"),
        (401, "Missing, unknown or revoked token"),
        (403, "Token lacks the role"),
        (413, "Body too large"),
        (415, "A JSON route got a body that is not application/json"),
        (422, "Invalid request"),
    )
}


def create_app(
    settings: Settings | None = None,
    *,
    lifespan_hooks: Sequence[LifespanHook] = (),
    max_body_bytes: int | None = None,
) -> FastAPI:
    """Build the API app.

    Parameters
    ----------
    settings
        Where the database is (``load_settings()`` when None). The ``[api]`` table of the config
        file may set ``max_body_bytes``.
    lifespan_hooks
        Async context managers entered after the store opens (background tasks).
    max_body_bytes
        Largest accepted request body; overrides the config file (default 1 MiB).
    """
    settings = settings if settings is not None else load_settings()
    limit = max_body_bytes if max_body_bytes is not None else _configured_limit(settings)

    app = FastAPI(
        # No redirect to the slashed/unslashed twin: Starlette builds that redirect's absolute
        # URL from the Host header, which a client controls. TrailingSlash routes both instead.
        redirect_slashes=False,
        title="cjgrade API",
        version=__version__,
        description=(
            "Admin API (assignments, prompts, rubrics, anchors, scales) and content store of "
            "cjgrade. Authenticate with `Authorization: Bearer <token>` from "
            "`cjgrade admin token create --role admin|runner|read`. Errors are "
            "application/problem+json."
        ),
        lifespan=_lifespan,
        responses=_ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.user_scales = settings.load_user_scales()
    app.state.lifespan_hooks = list(lifespan_hooks)
    app.state.readiness_checks = []  # hooks add ``() -> {check: "ok" or problem}`` (/readyz)
    app.state.metrics_registry = CollectorRegistry()
    app.state.http_metrics = HttpMetrics(app.state.metrics_registry)
    app.state.resolve_token = _unavailable_resolver

    install_error_handlers(app)
    _include_routers(app)
    _document_scales(app)
    app.add_middleware(BodySizeLimit, max_bytes=limit)
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.http_metrics)
    app.add_middleware(TrailingSlash)
    return app


class TrailingSlash:
    """Serve ``/path/`` as ``/path``: the route answers itself, with no redirect (a redirect's
    absolute URL would echo the request's Host header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def _include_routers(app: FastAPI) -> None:
    from cjgrade.api.routes import anchors, batches, content, health, instructions, scales, texts

    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(instructions.router)
    app.include_router(texts.router)
    app.include_router(anchors.router)
    app.include_router(scales.router)
    app.include_router(content.router)
    app.include_router(batches.router)


def _document_scales(app: FastAPI) -> None:
    """Make the OpenAPI enum of ``grade_scale`` list this server's scales (user ones too)."""
    from cjgrade.scales import list_scales

    ids = [scale.scale_id for scale in list_scales(app.state.user_scales)]
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for model in generate().get("components", {}).get("schemas", {}).values():
                prop = model.get("properties", {}).get("grade_scale", {})
                if "enum" in prop:
                    prop["enum"] = list(ids)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _configured_limit(settings: Settings) -> int:
    # Checked (a positive whole number) where the config file is read: cjgrade.config.ApiTable.
    value = settings.api.max_body_bytes
    return DEFAULT_MAX_BODY_BYTES if value is None else value


async def _unavailable_resolver(token: str) -> Principal | None:
    raise ConfigError("the API is not started: its store is not open (lifespan not run)")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from cjgrade.store.database import open_store

    check_route_guards(app, OPEN_PATHS)
    store = await open_store(app.state.settings, user_scales=app.state.user_scales)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        app.state.store = store
        app.state.resolve_token = _store_resolver(store)
        for hook in app.state.lifespan_hooks:
            await stack.enter_async_context(hook(app))
        yield


def _store_resolver(store: Any) -> Callable[[str], Any]:
    from cjgrade.store import tokens

    async def resolve(token: str) -> Principal | None:
        async with store.transaction() as session:
            record = await tokens.verify_token(session, token)
        if record is None:
            return None
        return Principal(token_id=str(record.id), role=Role(record.role), label=record.name)

    return resolve
