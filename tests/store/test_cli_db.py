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
    assert "upgraded <empty> -> 0001_initial" in capsys.readouterr().out
    assert run_app(app, ["db", "upgrade", "--database-url", empty_db_url]) == 0
    assert "already at 0001_initial" in capsys.readouterr().out
    assert run_app(app, ["db", "current", "--database-url", empty_db_url]) == 0
    assert "0001_initial (head)" in capsys.readouterr().out


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
