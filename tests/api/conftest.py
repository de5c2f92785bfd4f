"""Fixtures for API tests: the real app on SQLite and on a real PostgreSQL server.

The databases come from the store's fixtures (``tests/store/fixtures.py``): a copy of a
migrated SQLite file, then the session's PostgreSQL database with its tables emptied (skipped
only when no server answers). Each test gets an app whose lifespan has run and one token per
role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cjgrade.api import create_app
from cjgrade.config import load_settings
from tests.store.fixtures import _db_templates, db_url, pg_url  # noqa: F401

ROLES = ("admin", "runner", "read")


@pytest.fixture
def database_url(db_url: str) -> str:  # noqa: F811
    """A clean, migrated database: SQLite and PostgreSQL in turn (the store fixture)."""
    return db_url


def anchor(assignment_id: str, grade: str, label: str, text: str) -> dict[str, str]:
    """The body of ``POST /admin/v1/anchors/register``."""
    return {
        "assignment_id": assignment_id,
        "grade": grade,
        "anchor_label": label,
        "essay_text": text,
    }


@dataclass
class Api:
    """The running app, its store, and one token per role (plus a revoked one)."""

    app: Any
    store: Any
    tokens: dict[str, str]

    def client(self, role: str | None = "admin", **headers: str) -> httpx.AsyncClient:
        """An HTTP client talking to the app in-process, authenticated as ``role``."""
        all_headers = dict(headers)
        if role is not None:
            all_headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),
            base_url="http://testserver",
            headers=all_headers,
        )

    async def count_rows(self, table: str) -> int:
        from sqlalchemy import text

        async with self.store.transaction() as session:
            return int(await session.scalar(text(f'SELECT COUNT(*) FROM "{table}"')) or 0)


async def start_api(database_url: str, home: Path, **app_kwargs: Any) -> tuple[Any, Any]:
    """Create the app for ``database_url`` and enter its lifespan; returns (app, context)."""
    settings = load_settings(env={"CJGRADE_HOME": str(home)}, database_url=database_url)
    app = create_app(settings, **app_kwargs)
    context = app.router.lifespan_context(app)
    await context.__aenter__()
    return app, context


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The real app with its lifespan entered, and tokens for every role."""
    from cjgrade.store import create_token, revoke_token

    app, context = await start_api(database_url, tmp_path)
    try:
        store = app.state.store
        tokens: dict[str, str] = {}
        async with store.transaction() as session:
            for role in ROLES:
                _, tokens[role] = await create_token(session, f"test-{role}", role)
            record, tokens["revoked"] = await create_token(session, "test-revoked", "admin")
            await revoke_token(session, record.id)
        yield Api(app=app, store=store, tokens=tokens)
    finally:
        await context.__aexit__(None, None, None)
