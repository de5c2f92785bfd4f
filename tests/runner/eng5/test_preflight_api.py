"""The runner's preflights against a live API on PostgreSQL: the assignment (R3), its anchors
(R4) and ``eng5-np-run preflight`` (database, API, token and role, broker, judge)."""

# ruff: noqa: F811 (the fixtures are imported from tests/runner/eng5/live_api.py)

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cjgrade.errors import ConfigError, InputError
from cjgrade.runner.eng5 import preflight
from cjgrade.runner.eng5.env_checks import environment_checks
from cjgrade.runner.eng5.preflight import anchor_preflight, assignment_preflight
from cjgrade.runner.eng5.settings import Eng5Settings
from tests.runner.eng5.live_api import (  # noqa: F401
    LiveApi,
    _db_templates,
    anchor_text,
    broker,
    create_assignment,
    live_api,
    pg_url,
)

pytestmark = pytest.mark.postgres


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _lookup(api: LiveApi, role: str | None = "runner", *, token: str | None = None,
                  assignment: str = "np_2017_vt", **kwargs):  # type: ignore[no-untyped-def]
    async with api.client(role, token=token) as client:
        return await assignment_preflight(client, assignment, **kwargs)


def test_assignment_preflight_reports_what_the_api_says(live_api: LiveApi) -> None:
    async def setup() -> None:
        async with live_api.client() as admin:
            await create_assignment(admin)

    run(setup())
    context = run(_lookup(live_api, expected_grade_scale="eng5_np_legacy_9_step",
                          require_student_prompt=True))
    assert context.grade_scale == "eng5_np_legacy_9_step"
    assert context.name == "np-2017-vt" and context.context_origin == "research_experiment"
    line = context.describe(live_api.url)
    for part in ("np_2017_vt", "name np-2017-vt", "grade scale eng5_np_legacy_9_step",
                 "context origin research_experiment", "student prompt present"):
        assert part in line


def test_unknown_assignment_names_the_commands_that_fix_it(live_api: LiveApi) -> None:
    with pytest.raises(InputError) as caught:
        run(_lookup(live_api, assignment="nope_2099"))
    message = str(caught.value)
    assert "assignment nope_2099 is unknown" in message
    assert "cjgrade admin instructions list" in message
    assert "cjgrade admin instructions create --assignment-id nope_2099" in message


@pytest.mark.parametrize("token", ["cjg_not_a_real_token", ""])
def test_refused_or_missing_token_fails_fast_with_the_token_command(
        live_api: LiveApi, token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run(_lookup(live_api, None, token=token))
    message = str(caught.value)
    assert "401" in message
    assert "cjgrade admin token create --role runner" in message and "CJGRADE_TOKEN" in message


def test_revoked_token_is_a_401(live_api: LiveApi) -> None:
    live_api.sql("UPDATE api_tokens SET revoked_at = now()")
    with pytest.raises(ConfigError, match="401"):
        run(_lookup(live_api))


def test_scale_prompt_and_rubric_assertions(live_api: LiveApi) -> None:
    async def setup() -> None:
        async with live_api.client() as admin:
            await create_assignment(admin)
            await create_assignment(admin, "no_prompt", prompt=False, name=None)
            await create_assignment(admin, "national", origin="canonical_national", name=None)

    run(setup())
    with pytest.raises(InputError, match="uses grade scale eng5_np_legacy_9_step, not swedish"):
        run(_lookup(live_api, expected_grade_scale="swedish_8_anchor"))
    with pytest.raises(InputError, match=r"no student prompt.*cjgrade admin prompts upload"):
        run(_lookup(live_api, assignment="no_prompt", require_student_prompt=True))
    with pytest.raises(InputError, match=r"canonical_national.*drop --rubric"):
        run(_lookup(live_api, assignment="national", rubric_override=True))
    # Plan and register-anchors do not need the prompt; no rubric, no refusal.
    assert run(_lookup(live_api, assignment="no_prompt")).has_student_prompt is False
    assert run(_lookup(live_api, assignment="national")).context_origin == "canonical_national"


def test_anchor_preflight_needs_anchors_of_two_grades_on_the_scale(live_api: LiveApi) -> None:
    async def check() -> tuple[str, str, int]:
        async with live_api.client() as admin:
            await create_assignment(admin)
        async with live_api.client("runner") as client:
            context = await assignment_preflight(client, "np_2017_vt")
            try:
                await anchor_preflight(client, context, anchor_dir_hint="anchors/")
            except InputError as exc:
                none = str(exc)
            await client.register_anchor("np_2017_vt", "C+", "c_one", anchor_text("C+"))
            try:
                await anchor_preflight(client, context)
            except InputError as exc:
                single = str(exc)
            await client.register_anchor("np_2017_vt", "F+", "f_one", anchor_text("F+"))
            summary = await anchor_preflight(client, context)
        return none, single, summary.anchor_count

    none, single, count = run(check())
    assert "no anchors on its grade scale eng5_np_legacy_9_step" in none
    assert "eng5-np-run register-anchors np_2017_vt --anchor-dir anchors/" in none
    assert "cjgrade admin anchors register --assignment-id np_2017_vt" in none
    assert "all of grade C+" in single and "at least 2 grades" in single
    assert count == 2
    # Rows left under another scale (written before the scale changed) do not count, and the
    # message says they exist.
    live_api.sql("UPDATE anchors SET grade_scale = 'swedish_8_anchor'")

    async def stale() -> str:
        async with live_api.client("runner") as client:
            context = await assignment_preflight(client, "np_2017_vt")
            try:
                await anchor_preflight(client, context)
            except InputError as exc:
                return str(exc)
        return ""

    message = run(stale())
    assert "no anchors on its grade scale eng5_np_legacy_9_step" in message
    assert "2 anchor(s) are registered under other scales (swedish_8_anchor: 2)" in message


# -- eng5-np-run preflight ---------------------------------------------------------------------


def _settings(**flags: object) -> Eng5Settings:
    return Eng5Settings.from_flags(mode="preflight", **flags)


def test_preflight_subcommand_all_green(live_api: LiveApi, broker, capsys) -> None:  # type: ignore[no-untyped-def]
    code = preflight.run(_settings(api_url=live_api.url, api_token=live_api.tokens["runner"],
                                   kafka_bootstrap=broker.bootstrap, database_url=live_api.pg_url,
                                   llm_provider="sim", llm_model="bt"))
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("[ok  ] database: postgresql+asyncpg://")
    assert "[ok  ] api: " + live_api.url in out
    assert "[ok  ] token: valid, role runner" in out
    assert f"[ok  ] broker: {broker.bootstrap} answers" in out
    assert "[ok  ] judge model: sim/bt is in the manifest" in out
    assert "[ok  ] judge credentials: none needed" in out


def test_preflight_finds_each_role(live_api: LiveApi) -> None:
    roles = {}
    for role in ("admin", "runner", "read"):
        lines = run(environment_checks(api_url=live_api.url, token=live_api.tokens[role],
                                       database_url=None, kafka_bootstrap=None, judge=None))
        roles[role] = next(line for line in lines if line.name == "token")
    assert roles["admin"].ok and roles["admin"].detail == "valid, role admin"
    assert roles["runner"].ok and roles["runner"].detail == "valid, role runner"
    assert roles["read"].ok is False and "role read" in roles["read"].detail
    assert "cjgrade admin token create --role runner" in roles["read"].detail
    # Probing the roles wrote nothing.
    assert live_api.count("content") == 0 and live_api.count("assignments") == 0


def test_preflight_reports_each_failure_on_its_own_line(
        live_api: LiveApi, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = preflight.run(_settings(
        api_url=live_api.url, api_token="cjg_wrong", kafka_bootstrap=dead,
        database_url="postgresql://nobody@127.0.0.1:1/none", llm_provider="openai",
        llm_model="gpt-5-mini"))
    out = capsys.readouterr().out
    assert code == 2
    assert "[FAIL] database: postgresql+asyncpg://nobody@127.0.0.1:1/none does not answer" in out
    assert "[FAIL] token: refused (401" in out
    assert f"[FAIL] broker: {dead} does not answer" in out
    assert "[ok  ] judge model: openai/gpt-5-mini" in out
    # The key belongs on the workers when a broker is given: not a failure of this machine.
    assert "[skip] judge credentials: OPENAI_API_KEY is not set" in out
    lines = run(environment_checks(api_url="http://127.0.0.1:9", token=None, database_url=None,
                                   kafka_bootstrap=None, judge="openai/no-such-model"))
    text = "\n".join(line.render() for line in lines)
    assert "[FAIL] api: cannot connect to the cjgrade API at http://127.0.0.1:9" in text
    assert "[skip] broker: not configured" in text
    assert "[FAIL] judge model: unknown model openai/no-such-model" in text


def test_preflight_through_the_cli(live_api: LiveApi, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`eng5-np-run preflight`: main options before the subcommand apply; exit 0 / 2."""
    from cjgrade.cli.eng5 import run_cli

    base = ["--api-url", live_api.url, "--llm-provider", "sim", "--llm-model", "bt"]
    assert run_cli([*base, "--token", live_api.tokens["admin"], "preflight"]) == 0
    out = capsys.readouterr().out
    assert "[ok  ] token: valid, role admin" in out and "[skip] broker" in out
    assert run_cli([*base, "preflight", "--token", live_api.tokens["read"]]) == 2
    assert "[FAIL] token: valid, role read" in capsys.readouterr().out
