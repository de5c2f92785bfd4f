"""A corpus of hostile API requests and unusable environments (issue 14).

API cases run against the real app (lifespan entered, SQLite and PostgreSQL); CLI cases run
the real command root in process with a temporary CJGRADE_HOME. Every case must give: the
HTTP status or exit code of its error class; a message that names the thing (the field, the
path, the flag, the URL) and says what to do; no traceback, no raw regex and no password in
the output; and nothing written (no rows, no data directory, no output folder) or paid (the
fake judge server saw no request).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cjgrade.cli.main import build_app, run_app
from tests.api.conftest import Api, anchor, api, database_url  # noqa: F401
from tests.store.fixtures import _db_templates, db_url, pg_url  # noqa: F401

BASE = "/admin/v1/assessment-instructions"
INSTR = "Write an argumentative essay about school uniforms, 300-500 words."
ESSAY = ("Phones in school are a question of balance. Students use them to learn, but they "
         "also lose concentration when messages arrive. Rules help more than bans. ")
JSON = {"Content-Type": "application/json"}
REGEX_SIGNS = ("^[", "]*$", "\\x00", "{64}")
"""Pieces of the API's patterns: a refusal says the rule in words, never these."""


def instruction(assignment_id: str = "a1", **extra: object) -> dict[str, object]:
    return {"assignment_id": assignment_id, "instructions_text": INSTR,
            "grade_scale": "swedish_8_anchor", **extra}


# -- API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiCase:
    method: str
    path: str
    status: int
    says: tuple[str, ...]
    """Fragments the problem's detail must contain: the thing and the fix."""
    kwargs: dict[str, Any] = field(default_factory=dict)


API_CASES = {
    "malformed JSON": ApiCase(
        "POST", BASE, 422, ("not valid JSON", "line 2, column 7", "application/json"),
        {"content": b'{"assignment_id": "a1",\n "x": }', "headers": JSON}),
    "JSON route sent as text": ApiCase(
        "POST", BASE, 415, ("got Content-Type 'text/plain'", "send application/json"),
        {"content": b'{"assignment_id": "a1"}', "headers": {"Content-Type": "text/plain"}}),
    "JSON route without Content-Type": ApiCase(
        "POST", "/admin/v1/anchors/register", 415, ("no Content-Type", "application/json"),
        {"content": b'{"assignment_id": "a1"}'}),
    "JSON route sent as a form": ApiCase(
        "POST", "/admin/v1/student-prompts", 415, ("x-www-form-urlencoded", "application/json"),
        {"data": {"assignment_id": "a1", "prompt_text": "x" * 20}}),
    "empty JSON body": ApiCase(
        "POST", BASE, 422, ("body is empty", "send a JSON object"),
        {"content": b"", "headers": JSON}),
    "JSON array instead of an object": ApiCase(
        "POST", BASE, 422, ("must be a JSON object", "not an array"), {"json": [1, 2, 3]}),
    "id with a slash (pattern)": ApiCase(
        "POST", BASE, 422, ("assignment_id", "letters, digits", "starting with a letter"),
        {"json": instruction("a/1")}),
    "name with spaces (pattern)": ApiCase(
        "POST", BASE, 422, ("name", "letters, digits"), {"json": instruction(name="np 17")}),
    "path id with a space (pattern)": ApiCase(
        "GET", f"{BASE}/assignment/a%20b", 422, ("path.assignment_id", "letters, digits")),
    "content id that is not a SHA-256": ApiCase(
        "GET", "/v1/content/xyz", 422, ("storage_id", "64 lowercase hexadecimal")),
    "NUL in a query filter": ApiCase(
        "GET", f"{BASE}?grade_scale=%00", 422, ("grade_scale", "NUL character")),
    "blank anchor text (pattern)": ApiCase(
        "POST", "/admin/v1/anchors/register", 422, ("essay_text", "non-whitespace"),
        {"json": anchor("a1", "A", "A1", "   ")}),
    "unknown field": ApiCase(
        "POST", BASE, 422, ("surprise", "unknown field", "spelling"),
        {"json": instruction(surprise=1)}),
    "unknown assignment in a path": ApiCase(
        "DELETE", f"{BASE}/assignment/ghost", 404, ("ghost", "cjgrade admin instructions list")),
}


@pytest.mark.parametrize("case", API_CASES.values(), ids=list(API_CASES))
async def test_api_refuses_with_a_problem_naming_the_rule(api: Api, case: ApiCase) -> None:  # noqa: F811
    """The status of the error class, a problem+json detail naming the thing and the fix, no
    regex and no traceback, and no row written."""
    async with api.client() as client:
        response = await client.request(case.method, case.path, **case.kwargs)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    for fragment in case.says:
        assert fragment in detail, detail
    assert "Traceback" not in response.text
    assert not any(sign in response.text for sign in REGEX_SIGNS), response.text
    for table in ("assignments", "anchors", "content"):
        assert await api.count_rows(table) == 0, table


async def test_trailing_slash_neither_redirects_nor_echoes_the_host(api: Api) -> None:  # noqa: F811
    """`/path/` is served as `/path`: no redirect whose absolute URL echoes a forged Host."""
    async with api.client(Host="evil.example") as client:
        listed = await client.get(f"{BASE}/")
        created = await client.post(f"{BASE}/", json=instruction("slashed"))
    assert listed.status_code == 200 and "location" not in listed.headers
    assert created.status_code == 201, created.text
    assert "evil" not in str(listed.headers) + str(created.headers)


async def test_retried_delete_never_deletes_the_assignment_named_like_the_id(
    api: Api,  # noqa: F811
) -> None:
    """Issue 14: `np1`, and `other1` named `np1`; DELETE .../np1 twice: 204, then 404 naming
    `other1`'s id; `other1` and its anchor survive."""
    async with api.client() as client:
        await client.post(BASE, json=instruction("np1"))
        await client.post(BASE, json=instruction("other1", name="np1"))
        await client.post("/admin/v1/anchors/register", json=anchor("other1", "A", "A1", ESSAY))
        first = await client.delete(f"{BASE}/assignment/np1")
        second = await client.delete(f"{BASE}/assignment/np1")
    assert first.status_code == 204
    assert second.status_code == 404
    assert "'other1'" in second.json()["detail"] and "delete other1" in second.json()["detail"]
    assert await api.count_rows("assignments") == 1 and await api.count_rows("anchors") == 1


# -- environment and CLI -----------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """A fresh CJGRADE_HOME (which must still not exist after a refusal), an input folder, a
    file where a folder is expected, and the fake OpenAI server (which must see no request)."""
    from tests.judges.fakes.openai_api import VALID_KEY, FakeOpenAI

    for var in ("DATABASE_URL", "CJGRADE_DATABASE_URL", "CJGRADE_CONFIG", "CJGRADE_DB_HOST",
                "CJGRADE_SCALES_FILE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CJGRADE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPENAI_API_KEY", VALID_KEY)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "in"
    (folder / "students").mkdir(parents=True)
    (folder / "anchors").mkdir()
    (folder / "instructions.md").write_text("Choose the better argued essay.", encoding="utf-8")
    for i in range(4):
        (folder / "students" / f"s{i}.txt").write_text(ESSAY * (i + 1), encoding="utf-8")
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder", encoding="utf-8")
    with FakeOpenAI() as server:
        yield {"tmp": tmp_path, "home": tmp_path / "home", "in": folder, "file": a_file,
               "server": server, "unwritable": _unwritable_dir(tmp_path)}  # type: ignore[dict-item]


def _unwritable_dir(tmp_path: Path) -> Path:
    """A folder this process cannot write: a read-only one, or /sys for root (which ignores
    permission bits)."""
    if os.geteuid() == 0:
        return Path("/sys")
    ro = tmp_path / "read_only"
    ro.mkdir()
    ro.chmod(0o555)
    return ro


DOWN = "postgresql://cj:s3cr3t-pw@127.0.0.1:1/cjgrade"
"""A database that refuses connections (port 1), with a password that must never show."""
JUDGE = ("--judge", "openai/gpt-4o-2024-11-20", "--no-grades", "--budget", "6")


def _run(*extra: str) -> tuple[str, ...]:
    return ("run", "{in}", *JUDGE, "--base-url", "{url}", *extra)


@dataclass(frozen=True)
class CliCase:
    argv: tuple[str, ...]
    code: int
    says: tuple[str, ...]
    home: str | None = None
    """CJGRADE_HOME for the case ("{file}", "{file}/sub", "{unwritable}"); None: the fresh one."""
    config_toml: str | None = None
    """Written to the input folder's config.toml first."""


CLI_CASES = {
    "home is a file: db upgrade": CliCase(
        ("db", "upgrade"), 2, ("{file}", "is a file", "set CJGRADE_HOME"), "{file}"),
    "home is a file: admin token list": CliCase(
        ("admin", "token", "list"), 2, ("{file}", "is a file", "CJGRADE_HOME"), "{file}"),
    "home is a file: serve": CliCase(
        ("serve", "--port", "1"), 2, ("{file}", "is a file", "--database-url"), "{file}"),
    "home is a file: run": CliCase(
        _run(), 2, ("{file}", "is a file", "set CJGRADE_HOME"), "{file}"),
    "home under a file: db upgrade": CliCase(
        ("db", "upgrade"), 2, ("{file}/sub", "cannot be created", "CJGRADE_HOME"), "{file}/sub"),
    "home not writable: db upgrade": CliCase(
        ("db", "upgrade"), 2, ("{unwritable}", "not writable", "CJGRADE_HOME"), "{unwritable}"),
    "database down: serve": CliCase(
        ("serve", "--port", "1", "--database-url", DOWN), 6,
        ("127.0.0.1:1/cjgrade", "unreachable", "--database-url", "API was not started")),
    "database down: db upgrade": CliCase(
        ("db", "upgrade", "--database-url", DOWN), 6, ("127.0.0.1:1/cjgrade", "server is running")),
    "database down: run": CliCase(
        _run("--database-url", DOWN), 6, ("127.0.0.1:1/cjgrade", "DATABASE_URL")),
    "--out is a file": CliCase(
        _run("--out", "{file}"), 2, ("--out {file}", "existing file", "new or writable folder")),
    "--out under a file": CliCase(
        _run("--out", "{file}/run"), 2, ("--out {file}/run", "is a file", "--out")),
    "--out not writable": CliCase(
        _run("--out", "{unwritable}/run"), 2, ("{unwritable}", "not writable", "--out")),
    "demo --out is a file": CliCase(
        ("demo", "--out", "{file}"), 2, ("--out {file}", "existing file")),
    "--base-url without a scheme": CliCase(
        ("run", "{in}", *JUDGE, "--base-url", "notaurl"), 2,
        ("--base-url 'notaurl'", "http(s) URL with a host", "http://localhost:8000/v1")),
    "--base-url file://": CliCase(
        ("run", "{in}", *JUDGE, "--base-url", "file:///etc/passwd"), 2,
        ("'file:///etc/passwd'", "scheme 'file'", "http(s)")),
    "--base-url without a host": CliCase(
        ("run", "{in}", *JUDGE, "--base-url", "http:///v1"), 2, ("names no host", "http(s)")),
    "--base-url with a bad port": CliCase(
        ("run", "{in}", *JUDGE, "--base-url", "http://localhost:99999/v1"), 2,
        ("localhost:99999", "cannot be parsed")),
    "base_url in config.toml": CliCase(
        ("run", "{in}", *JUDGE), 2, ("base_url in config.toml 'gopher://x'", "http(s)"),
        config_toml='base_url = "gopher://x"\n'),
    "resume --base-url": CliCase(
        ("resume", "00000000-0000-4000-8000-000000000000", "--base-url", "ftp://x"), 2,
        ("--base-url 'ftp://x'", "scheme 'ftp'")),
    "simulate --essays 100000000": CliCase(
        ("simulate", "--essays", "100000000"), 2,
        ("--essays 100000000", "4-2,000", "choose --essays between 4 and 2,000")),
    "simulate --first-seed -1": CliCase(
        ("simulate", "--first-seed", "-1"), 2, ("--first-seed -1", "choose --first-seed")),
}


def _fill(text: str, env: dict[str, Any]) -> str:
    return text.format(**{k: str(v) for k, v in env.items() if k != "server"},
                       url=f"{env['server'].url}/v1")


@pytest.mark.parametrize("case", CLI_CASES.values(), ids=list(CLI_CASES))
def test_cli_refuses_before_anything_is_written_or_paid(
    case: CliCase, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The exit code of the error class and one message naming the thing and the fix; no
    traceback, no password; no data directory, no output folder, no judge request."""
    if case.home is not None:
        monkeypatch.setenv("CJGRADE_HOME", _fill(case.home, env))
    if case.config_toml is not None:
        (env["in"] / "config.toml").write_text(case.config_toml, encoding="utf-8")
    before = sorted(str(p) for p in env["tmp"].rglob("*"))
    code = run_app(build_app(), [_fill(arg, env) for arg in case.argv])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == case.code, output
    message = " ".join(captured.err.split())  # Rich may wrap; the words must be there
    for fragment in case.says:
        assert _fill(fragment, env) in message, message
    assert "Traceback" not in output and "s3cr3t" not in output
    assert env["server"].chat_requests() == []  # nothing paid
    assert not env["home"].exists()  # no database
    assert sorted(str(p) for p in env["tmp"].rglob("*")) == before  # nothing else written
