"""A small HTTP endpoint for a worker: ``/healthz`` (live), ``/readyz`` (ready to work) and
``/metrics`` (Prometheus); any other path is 404.

``/healthz`` answers 200 while the process's event loop runs. ``/readyz`` answers 200 when
every check passes and 503 otherwise, with a JSON body naming each check's state, e.g.
``{"status": "unready", "checks": {"broker": "unreachable", "consuming": "ok"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HealthServer", "readiness"]

Checks = Callable[[], Mapping[str, str]]
"""Returns ``{check name: "ok" or what is wrong}``."""


def readiness(checks: Mapping[str, str]) -> tuple[int, dict[str, object]]:
    """The status code and body of ``/readyz`` for these check results."""
    ready = all(v == "ok" for v in checks.values())
    return (200 if ready else 503), {"status": "ready" if ready else "unready",
                                     "checks": dict(checks)}


class HealthServer:
    """Serve health, readiness and metrics on ``host:port`` (``port=0``: any free port)."""

    def __init__(self, checks: Checks, registry: CollectorRegistry, *, host: str = "0.0.0.0",
                 port: int = 0) -> None:
        self.checks = checks
        self.registry = registry
        self.host = host
        self.port = port
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> HealthServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        if path == "/healthz":
            return 200, "application/json", b'{"status": "ok"}'
        if path == "/readyz":
            code, body = readiness(self.checks())
            return code, "application/json", json.dumps(body).encode()
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        return 404, "application/json", b'{"status": "not found"}'

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers: not needed
            parts = line.decode("latin-1").split()
            if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
                code, ctype, body = 405, "application/json", b'{"status": "GET only"}'
            else:
                code, ctype, body = self._answer(parts[1].split("?", 1)[0].rstrip("/") or "/")
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
                      503: "Service Unavailable"}[code]
            head = (f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            writer.write(head + (b"" if parts and parts[0] == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
