"""``cjgrade admin`` against a real uvicorn server (and ``token`` against the database)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from cjgrade.cli import admin, serve
from cjgrade.cli.main import run_app
from tests.api.conftest import database_url  # noqa: F401
from tests.api.live_server import LiveServer, create_tokens
from tests.store.fixtures import _db_templates, db_url, pg_url  # noqa: F401

INSTR = "Write an argumentative essay about school uniforms."


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``cjgrade <argv>`` with only the admin and serve commands loaded."""
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    admin.register(app)
    serve.register(app)
    capsys.readouterr()
    code = run_app(app, argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user config, database or API settings leak in from the environment."""
    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path / "home"))
    for var in (
        "DATABASE_URL",
        "CJGRADE_DATABASE_URL",
        "CJGRADE_API_URL",
        "CJGRADE_TOKEN",
        "CJGRADE_CONFIG",
        "CJGRADE_DB_HOST",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server(
    database_url: str,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    isolated_env: None,
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    tokens = create_tokens(database_url)
    with LiveServer(database_url, tmp_path) as live:
        yield live, tokens


def test_token_create_list_revoke_talk_to_the_database(
    server: tuple[LiveServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """`token create` prints a working token once; `revoke` makes the API answer 401."""
    live, _ = server
    db = ["--database-url", live.database_url]
    code, out, err = cli(
        ["admin", "token", "create", "--role", "read", "--name", "ci", *db], capsys
    )
    assert code == 0 and "shown once" in err
    secret = out.strip()
    assert secret.startswith("cjg_") and "\n" not in secret
    code, out, _ = cli(
        ["admin", "scales", "list", "--api-url", live.url, "--token", secret], capsys
    )
    assert code == 0, out
    code, out, _ = cli(["admin", "token", "list", *db], capsys)
    line = next(line for line in out.splitlines() if "\tci\t" in line)
    token_id = line.split("\t")[0]
    assert "\tread\t" in line and "active" in line and secret not in out
    code, out, _ = cli(["admin", "token", "revoke", token_id, *db], capsys)
    assert code == 0 and "revoked" in out
    code, _, err = cli(
        ["admin", "scales", "list", "--api-url", live.url, "--token", secret], capsys
    )
    assert code == 2
    assert "cjgrade admin token create --role admin" in err and "CJGRADE_TOKEN" in err


def test_bad_role_for_token_create_is_an_input_error(
    isolated_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown role is refused with the valid roles listed."""
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    code, _, err = cli(["admin", "token", "create", "--role", "god", "--database-url", url], capsys)
    assert code == 3 and "admin, runner, read" in err


def test_assignment_lifecycle_through_the_cli(
    server: tuple[LiveServer, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """create, list, get, prompts, rubrics, anchors, scales and delete all work end to end,
    with the URL and token taken from CJGRADE_API_URL / CJGRADE_TOKEN."""
    live, tokens = server
    monkeypatch.setenv("CJGRADE_API_URL", live.url)
    monkeypatch.setenv("CJGRADE_TOKEN", tokens["admin"])
    instructions = tmp_path / "instructions.txt"
    instructions.write_text(INSTR, encoding="utf-8")
    code, out, err = cli(
        [
            "admin",
            "instructions",
            "create",
            "--assignment-id",
            "np_2017_vt",
            "--grade-scale",
            "eng5_np_legacy_9_step",
            "--instructions-file",
            str(instructions),
            "--prompt-text",
            "Do uniforms help pupils learn? Discuss.",
        ],
        capsys,
    )
    assert code == 0, err
    assert "np_2017_vt saved" in out and "prompt yes" in out
    code, out, err = cli(["admin", "instructions", "list"], capsys)
    assert out.startswith("np_2017_vt\teng5_np_legacy_9_step") and "1 assignment(s)" in err
    code, out, _ = cli(["admin", "instructions", "get", "np_2017_vt"], capsys)
    assert json.loads(out)["instructions_text"] == INSTR
    code, out, _ = cli(["admin", "prompts", "get", "np_2017_vt"], capsys)
    assert out.strip() == "Do uniforms help pupils learn? Discuss."
    code, out, err = cli(
        [
            "admin",
            "rubrics",
            "upload",
            "--assignment-id",
            "np_2017_vt",
            "--text",
            "Language first, then structure.",
        ],
        capsys,
    )
    assert code == 0, err
    code, out, _ = cli(["admin", "rubrics", "get", "np_2017_vt"], capsys)
    assert out.strip() == "Language first, then structure."
    essay = tmp_path / "B1.txt"
    essay.write_text("An anchor essay of grade B.", encoding="utf-8")
    code, out, err = cli(
        [
            "admin",
            "anchors",
            "register",
            "--assignment-id",
            "np_2017_vt",
            "--grade",
            "B",
            "--file",
            str(essay),
        ],
        capsys,
    )
    assert code == 0, err
    assert "anchor B1 (B, eng5_np_legacy_9_step) registered" in out
    code, out, _ = cli(["admin", "anchors", "list", "np_2017_vt"], capsys)
    assert "1 anchor(s) in scale" in out and "B1\tB\t" in out
    code, out, _ = cli(["admin", "scales", "list"], capsys)
    assert "swedish_8_anchor" in out
    code, out, _ = cli(["admin", "anchors", "list", "np_2017_vt", "--json"], capsys)
    assert json.loads(out)["anchor_count_by_scale"] == {"eng5_np_legacy_9_step": 1}
    code, out, _ = cli(["admin", "instructions", "list", "--json"], capsys)
    assert json.loads(out)["total"] == 1
    code, out, _ = cli(["admin", "scales", "list", "--json"], capsys)
    assert {s["scale_id"] for s in json.loads(out)} >= {"swedish_8_anchor"}
    code, out, _ = cli(["admin", "instructions", "delete", "np_2017_vt"], capsys)
    assert code == 0 and "deleted" in out


def test_cli_messages_say_which_command_fixes_the_problem(
    server: tuple[LiveServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """404 points at `instructions create`, 401 and 403 at `token create` (403 with the role
    needed), a wrong API root and a refused connection at `cjgrade serve` / --api-url; each is
    one line with an exit code."""
    live, tokens = server
    base = ["--api-url", live.url]
    code, _, err = cli(
        ["admin", "instructions", "get", "ghost", *base, "--token", tokens["admin"]], capsys
    )
    assert code == 3 and "ghost" in err and "cjgrade admin instructions create" in err
    code, _, err = cli(
        [
            "admin",
            "instructions",
            "create",
            "--assignment-id",
            "a1",
            "--grade-scale",
            "swedish_8_anchor",
            "--instructions-text",
            INSTR,
            *base,
            "--token",
            tokens["read"],
        ],
        capsys,
    )
    assert code == 2 and "role admin" in err and "has role read" in err
    assert "cjgrade admin token create --role admin" in err
    admin = [*base, "--token", tokens["admin"]]
    create = [
        "admin",
        "instructions",
        "create",
        "--assignment-id",
        "a1",
        "--instructions-text",
        INSTR,
    ]
    assert cli([*create, "--grade-scale", "swedish_8_anchor", *admin], capsys)[0] == 0
    anchor = [
        "admin",
        "anchors",
        "register",
        "--assignment-id",
        "a1",
        "--grade",
        "B",
        "--text",
        "An anchor.",
        "--label",
        "B1",
    ]
    assert cli([*anchor, *admin], capsys)[0] == 0
    code, _, err = cli([*create, "--grade-scale", "eng5_np_legacy_9_step", *admin], capsys)
    assert code == 3 and "409" in err and "create a new assignment" in err
    code, _, err = cli(["admin", "scales", "list", *base], capsys)
    assert code == 2 and "CJGRADE_TOKEN" in err and "cjgrade admin token create" in err
    code, _, err = cli(["admin", "scales", "list", *base, "--token", "cjg_revoked-or-typo"], capsys)
    assert code == 2 and "cjgrade admin token create" in err
    code, _, err = cli(
        [
            "admin",
            "instructions",
            "get",
            "x",
            "--api-url",
            f"{live.url}/wrong-root",
            "--token",
            tokens["admin"],
        ],
        capsys,
    )
    assert code == 3 and "cjgrade serve" in err and "--api-url" in err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    code, _, err = cli(["admin", "scales", "list", "--api-url", closed, "--token", "x"], capsys)
    assert code == 2 and "cjgrade serve" in err and "--api-url" in err
    for message in (err,):
        assert message.count("\n") == 1


def test_input_mistakes_are_reported_before_any_request(
    isolated_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing/duplicate text sources and non-UTF-8 files fail locally with exit code 3."""
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Smörgåsbord".encode("latin-1"))
    closed = ["--api-url", "http://127.0.0.1:9", "--token", "x"]
    code, _, err = cli(
        ["admin", "instructions", "create", "--assignment-id", "a", "--grade-scale", "s", *closed],
        capsys,
    )
    assert code == 3 and "--instructions-file or --instructions-text" in err
    code, _, err = cli(
        ["admin", "prompts", "upload", "--assignment-id", "a", "--file", str(bad), *closed], capsys
    )
    assert code == 3 and "not UTF-8" in err
    code, _, err = cli(
        [
            "admin",
            "anchors",
            "register",
            "--assignment-id",
            "a",
            "--grade",
            "A",
            "--text",
            "essay",
            *closed,
        ],
        capsys,
    )
    assert code == 3 and "--label" in err
