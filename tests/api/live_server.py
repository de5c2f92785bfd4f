"""A real uvicorn server in a background thread, on a free port (for CLI and schemathesis)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from cjgrade.api import create_app
from cjgrade.config import load_settings

ROLES = ("admin", "runner", "read")


class LiveServer:
    """Serve ``create_app`` for ``database_url`` on 127.0.0.1:<free port> until exit."""

    def __init__(self, database_url: str, home: Path, **app_kwargs: Any) -> None:
        settings = load_settings(env={"CJGRADE_HOME": str(home)}, database_url=database_url)
        self.app = create_app(settings, **app_kwargs)
        self.database_url = database_url
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()


def create_tokens(database_url: str) -> dict[str, str]:
    """One token per role, written straight to the database (as `token create` does)."""

    async def run() -> dict[str, str]:
        from cjgrade.store import create_token, open_store

        store = await open_store(database_url)
        try:
            async with store.transaction() as session:
                return {role: (await create_token(session, role, role))[1] for role in ROLES}
        finally:
            await store.close()

    return asyncio.run(run())
