"""Prometheus metrics: one registry per app, request counts and latencies by route template.

The registry lives on ``app.state.metrics_registry`` so background tasks attached to the app
(the engine, the orchestrator) can register their own collectors on it; ``GET /metrics`` serves
everything in it in the Prometheus text format.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HttpMetrics", "RequestMetricsMiddleware", "router"]

router = APIRouter()


class HttpMetrics:
    """The HTTP collectors of one app, registered on its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "cjgrade_http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "cjgrade_http_request_duration_seconds",
            "Time from request to the start of the response, by method and route template.",
            ["method", "route"],
            registry=registry,
        )


class RequestMetricsMiddleware:
    """Count each HTTP request under its route template (``/x/{id}``), never the raw path,
    so label cardinality stays bounded; unmatched paths count as ``<unmatched>``."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)


@router.get(
    "/metrics",
    summary="Prometheus metrics (open, no token)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    tags=["operations"],
)
async def read_metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
