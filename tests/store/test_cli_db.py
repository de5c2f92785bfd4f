"""`cjgrade db upgrade` / `cjgrade db current` on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjgrade.cli.main import build_app, run_app


def test_upgrade_then_current(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """current reports an empty database, upgrade migrates it, a second upgrade is a no-op."""
    app = build_app()
    assert run_app(app, ["db", "current", "--database-url", empty_db_url]) == 0
    assert "empty" in capsys.readouterr().out
    assert run_app(app, ["db", "upgrade", "--database-url", empty_db_url]) == 0
    assert "upgraded <empty> -> 0002_comparison_redeliveries" in capsys.readouterr().out
    assert run_app(app, ["db", "upgrade", "--database-url", empty_db_url]) == 0
    assert "already at 0002_comparison_redeliveries" in capsys.readouterr().out
    assert run_app(app, ["db", "current", "--database-url", empty_db_url]) == 0
    assert "0002_comparison_redeliveries (head)" in capsys.readouterr().out


def test_default_database_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a URL the SQLite file is created under CJGRADE_HOME."""
    for var in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "CJGRADE_DB_HOST", "CJGRADE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path))
    assert run_app(build_app(), ["db", "upgrade"]) == 0
    assert (tmp_path / "cjgrade.sqlite3").exists()
    assert str(tmp_path) in capsys.readouterr().out


def test_unreachable_server_exit_code_and_hidden_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A refused connection exits with the storage code and never prints the password."""
    url = "postgresql://u:s3cr%23t@127.0.0.1:1/db"
    assert run_app(build_app(), ["db", "current", "--database-url", url]) == 6
    err = capsys.readouterr().err
    assert "cannot open database" in err and "s3cr" not in err


@pytest.mark.parametrize("password", ["p@ss:w/rd%", "omT9VJ#1cvqPjuMzP5exdGp9h#m3zmQn"])
def test_upgrade_postgresql_from_cjgrade_db_parts(
    pg_url: str,
    password: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`cjgrade db upgrade` with only CJGRADE_DB_HOST/PORT/NAME/USER/PASSWORD set migrates an
    empty PostgreSQL database owned by a role whose password has URL metacharacters, connects
    as that role, and prints or logs no password."""
    import asyncio
    import logging
    import uuid

    from sqlalchemy.engine import make_url

    from tests.store.fixtures import _test_db_name, pg_execute

    role = f"cjgrade_pw_{uuid.uuid4().hex[:8]}"
    name = _test_db_name("empty")
    quoted = password.replace("'", "''")
    asyncio.run(pg_execute(f"CREATE ROLE {role} LOGIN PASSWORD '{quoted}'"))
    asyncio.run(pg_execute(f'CREATE DATABASE "{name}" OWNER {role}'))
    target = make_url(pg_url)
    for var in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "CJGRADE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    env = {
        "CJGRADE_DB_HOST": target.host or "127.0.0.1",
        "CJGRADE_DB_PORT": str(target.port or 5432),
        "CJGRADE_DB_NAME": name,
        "CJGRADE_DB_USER": role,
        "CJGRADE_DB_PASSWORD": password,
    }
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    caplog.set_level(logging.DEBUG)
    try:
        app = build_app()
        assert run_app(app, ["db", "upgrade"]) == 0
        assert run_app(app, ["db", "current"]) == 0
        assert run_app(app, ["admin", "token", "create", "--role", "read"]) == 0
        out, err = capsys.readouterr()
        assert "upgraded <empty> -> 0002_comparison_redeliveries" in out
        assert "0002_comparison_redeliveries (head)" in out
        assert f"{role}:***@" in out
        for text in (out, err, caplog.text):
            assert password not in text and quoted not in text
        owner = asyncio.run(_table_owner(pg_url, name))
        assert owner == role
    finally:
        asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(pg_execute(f"DROP ROLE IF EXISTS {role}"))


async def _table_owner(pg_url: str, database: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from cjgrade.store import open_store

    store = await open_store(make_url(pg_url).set(database=database), migrate=False)
    try:
        async with store.engine.connect() as conn:
            owner = await conn.scalar(
                text("SELECT tableowner FROM pg_tables WHERE tablename = 'assignments'")
            )
    finally:
        await store.close()
    return str(owner)
