"""``cjgrade serve`` in a real subprocess: it serves, it stops, and a busy port is one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer

from cjgrade.cli import serve
from cjgrade.cli.main import run_app
from tests.store.fixtures import _db_templates, pg_url  # noqa: F401

# Only the serve command is loaded, so the test does not depend on other command modules.
SCRIPT = """
import sys, typer
from cjgrade.cli import serve
from cjgrade.cli.main import run_app
app = typer.Typer()
@app.callback()
def root() -> None:
    pass
serve.register(app)
sys.exit(run_app(app, sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(args: list[str], home: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CJGRADE_CONFIG")}
    env["CJGRADE_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_answers_healthz_and_stops_on_sigint(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    """`cjgrade serve --port N --database-url URL` answers /healthz and exits 0 on Ctrl-C; the
    start-up line names the database without its password (trust auth ignores it)."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_url).set(password="s3cr#t:p@ss")
    database_url = url.render_as_string(hide_password=False)
    port = free_port()
    proc = start_serve(["--port", str(port), "--database-url", database_url], tmp_path)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == 200, proc.stderr.read() if proc.poll() is not None else "no answer"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in err
    assert "s3cr" not in err
    assert f"database {url.render_as_string(hide_password=True)}" in err


def test_serve_on_a_busy_port_fails_with_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A port already in use is a ConfigError (exit 2) that says to choose another --port."""
    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path))
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    serve.register(app)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        db = f"sqlite:///{tmp_path / 'x.sqlite3'}"
        code = run_app(app, ["serve", "--port", str(port), "--database-url", db])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and "--port" in last
