"""A live ``cjgrade serve`` for the runner's API-facing tests: uvicorn on a free port over a
real PostgreSQL database, one token per role, and helpers that set up an assignment through
the admin API (as an operator would with ``cjgrade admin ...``).

Import the fixtures in a test module::

    from tests.runner.eng5.live_api import api_server, ...  # noqa: F401
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from cjgrade.api.client import ApiClient
from tests.api.live_server import LiveServer, create_tokens
from tests.store.fixtures import _db_templates, pg_execute, pg_url  # noqa: F401

INSTRUCTIONS = "Write a letter to your headteacher about mobile phones in school."
PROMPT = "Should mobile phones be banned in school? Argue for your view."


@dataclass
class LiveApi:
    server: LiveServer
    tokens: dict[str, str]
    pg_url: str

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, role: str | None = "admin", *, token: str | None = None) -> ApiClient:
        return ApiClient(self.url, token if token is not None else
                         (self.tokens[role] if role else None))

    def sql(self, statement: str) -> None:
        """Run SQL on the server's database (to simulate what happens behind its back)."""
        asyncio.run(pg_execute(statement, make_url(self.pg_url).database))

    def count(self, table: str) -> int:
        async def go() -> int:
            import asyncpg

            url = make_url(self.pg_url)
            conn = await asyncpg.connect(host=url.host, port=url.port or 5432,
                                         user=url.username, password=url.password,
                                         database=url.database)
            try:
                return int(await conn.fetchval(f'SELECT COUNT(*) FROM "{table}"'))
            finally:
                await conn.close()

        return asyncio.run(go())


def start_live_api(database_url: str, home: Path, **app_kwargs: Any,
                   ) -> tuple[LiveServer, dict[str, str]]:
    """An unstarted live server (enter it) and one token per role."""
    tokens = create_tokens(database_url)
    return LiveServer(database_url, home, **app_kwargs), tokens


@pytest.fixture
def live_api(pg_url: str, tmp_path: Path,  # noqa: F811
             monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveApi]:
    """The API alone (no orchestrator) on PostgreSQL; no API settings leak from the
    environment."""
    isolate_env(monkeypatch, tmp_path)
    server, tokens = start_live_api(pg_url, tmp_path / "server-home")
    with server:
        yield LiveApi(server, tokens, pg_url)


def isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path / "runner-home"))
    for var in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "CJGRADE_API_URL", "CJGRADE_TOKEN",
                "CJGRADE_CONFIG", "CJGRADE_DB_HOST", "KAFKA_BOOTSTRAP_SERVERS",
                "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)


async def create_assignment(client: ApiClient, assignment_id: str = "np_2017_vt", *,
                            scale: str = "eng5_np_legacy_9_step", prompt: bool = True,
                            origin: str = "research_experiment",
                            name: str | None = "np-2017-vt") -> None:
    """An assignment as ``cjgrade admin instructions create`` makes it."""
    await client.upsert_instructions(assignment_id, INSTRUCTIONS, scale, context_origin=origin,
                                     name=name)
    if prompt:
        await client.upload_student_prompt(assignment_id, PROMPT)


def anchor_text(grade: str, n: int = 0) -> str:
    return (f"Anchor essay of grade {grade} (number {n}). Phones distract pupils in lessons, "
            "but they also help with research and contact with parents. ") * 2


def student_text(i: int) -> str:
    return (f"Student essay {i}. I think phones should be allowed at break but not in "
            f"lessons, because of focus ({i}). ") * 2


def write_eng5_folder(root: Path, anchors: dict[str, str], n_students: int = 4) -> Path:
    """An ENG5-layout input folder: instructions, anchor_essays/ (file name -> text),
    student_essays/ with ``n_students`` essays."""
    (root / "anchor_essays").mkdir(parents=True)
    (root / "student_essays").mkdir()
    (root / "eng5_np_vt_2017_essay_instruction.md").write_text(INSTRUCTIONS, encoding="utf-8")
    for name, text in anchors.items():
        (root / "anchor_essays" / name).write_text(text, encoding="utf-8")
    for i in range(n_students):
        (root / "student_essays" / f"Pupil {i} (SA24 Eng5 NP Writing Role Models).txt"
         ).write_text(student_text(i), encoding="utf-8")
    return root


@pytest.fixture
def broker() -> Iterator[Any]:
    """A fresh Tansu broker (Kafka protocol) per test, killed afterwards."""
    from tests.distributed.broker import Broker

    b = Broker()
    b.start()
    try:
        yield b
    finally:
        b.stop()
