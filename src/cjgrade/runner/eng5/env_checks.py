"""``eng5-np-run preflight``: database, API, token and role, broker, judge model and
credentials, one line each (:func:`environment_checks`; the mode is
:func:`cjgrade.runner.eng5.preflight.run`). Each check answers on its own line, so one broken
service never hides the state of the others; nothing is written anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from cjgrade.api.client import ApiAuthError, ApiClient, ApiUnreachable
from cjgrade.errors import CJGradeError, ConfigError
from cjgrade.runner.eng5.preflight import RUNNER_TOKEN_COMMAND

__all__ = ["CheckLine", "check_broker", "environment_checks"]


@dataclass(frozen=True)
class CheckLine:
    """One line of ``eng5-np-run preflight``: ``ok`` None means not checked (not configured)."""

    name: str
    ok: bool | None
    detail: str

    def render(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        return f"[{mark}] {self.name}: {self.detail}"


async def _check_database(database_url: Any) -> CheckLine:
    from sqlalchemy import text

    from cjgrade.config import render_url
    from cjgrade.store.database import create_engine

    if database_url is None:
        return CheckLine("database", None, "not configured (not needed with --kafka-bootstrap: "
                         "the cluster path uses the API only)")
    shown = render_url(database_url)
    engine = create_engine(database_url)
    try:
        async with asyncio.timeout(10):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure is the line's answer
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return CheckLine("database", False, f"{shown} does not answer "
                         f"({reason[0] if reason else type(exc).__name__}); start it or fix "
                         "--database-url / DATABASE_URL")
    finally:
        await engine.dispose()
    return CheckLine("database", True, f"{shown} answers")


async def _check_api(api_url: str, token: str | None,
                     transport: httpx.AsyncBaseTransport | None) -> list[CheckLine]:
    lines: list[CheckLine] = []
    async with ApiClient(api_url, token, transport=transport, timeout=10.0) as client:
        try:
            health = await client.health()
        except ApiUnreachable as exc:
            return [CheckLine("api", False, str(exc)),
                    CheckLine("token", None, "not checked (no API)")]
        except CJGradeError as exc:
            return [CheckLine("api", False, f"{api_url}: {exc}"),
                    CheckLine("token", None, "not checked (no API)")]
        lines.append(CheckLine("api", True, f"{api_url} answers (database "
                               f"{health.get('database', '?')})"))
        if not token:
            lines.append(CheckLine("token", False, "no token: create one with "
                                   f"`{RUNNER_TOKEN_COMMAND}` and set CJGRADE_TOKEN or pass "
                                   "--token"))
            return lines
        try:
            await client.list_scales()
        except ApiAuthError:
            lines.append(CheckLine("token", False, "refused (401: unknown or revoked); create "
                                   f"one with `{RUNNER_TOKEN_COMMAND}`"))
            return lines
        role = await client.probe_token_role()
        if role == "read":
            lines.append(CheckLine("token", False, "valid, role read: it may not upload essays "
                                   f"or register anchors; create one with "
                                   f"`{RUNNER_TOKEN_COMMAND}`"))
        else:
            lines.append(CheckLine("token", True, f"valid, role {role}"))
    return lines


async def check_broker(bootstrap: str | None) -> CheckLine:
    if not bootstrap:
        return CheckLine("broker", None, "not configured (execute runs embedded; pass "
                         "--kafka-bootstrap or set KAFKA_BOOTSTRAP_SERVERS for a cluster)")
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                client_id="eng5-np-preflight")
    try:
        async with asyncio.timeout(15):
            await admin.start()
            topics = await admin.list_topics()
    except Exception as exc:  # any failure is the line's answer
        return CheckLine("broker", False, f"{bootstrap} does not answer ({type(exc).__name__}: "
                         f"{exc}); start the broker or fix --kafka-bootstrap")
    finally:
        await admin.close()
    ours = sorted(t for t in topics if t.startswith("cjgrade."))
    return CheckLine("broker", True, f"{bootstrap} answers ({len(ours)} cjgrade topic(s))")


def _check_judge(judge: str | None, base_url: str | None, cluster: bool,
                 judge_error: str | None = None) -> list[CheckLine]:
    import os

    from cjgrade.judges.manifest import load_manifest

    if judge_error:
        return [CheckLine("judge model", False, judge_error)]
    if not judge:
        return [CheckLine("judge model", None, "not given (--llm-provider / --llm-model)")]
    manifest = load_manifest()
    try:
        info = manifest.resolve(judge)
    except ConfigError as exc:
        return [CheckLine("judge model", False, str(exc))]
    lines = [CheckLine("judge model", True, f"{info.provider}/{info.model} is in the manifest")]
    provider = manifest.provider(info.provider)
    where = "on this machine; with --kafka-bootstrap the workers need it, not the runner"
    if provider.local:
        lines.append(CheckLine("judge credentials", True, "none needed (a local judge)"))
    elif provider.key_env_var and os.environ.get(provider.key_env_var):
        lines.append(CheckLine("judge credentials", True, f"{provider.key_env_var} is set "
                               f"({where})"))
    elif base_url:
        lines.append(CheckLine("judge credentials", True, f"{provider.key_env_var} not set; "
                               f"--llm-base-url {base_url} may need none"))
    else:
        lines.append(CheckLine("judge credentials", None if cluster else False,
                               f"{provider.key_env_var} is not set {where}"))
    return lines


async def environment_checks(
    *,
    api_url: str,
    token: str | None,
    database_url: Any,
    kafka_bootstrap: str | None,
    judge: str | None,
    llm_base_url: str | None = None,
    judge_error: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    echo: Callable[[str], None] | None = None,
) -> list[CheckLine]:
    """Run every check of ``eng5-np-run preflight``; each line is echoed as it is known.

    ``database_url`` None means none is configured (the cluster path needs none);
    ``judge_error`` is why the judge flags could not be resolved (reported on its line).
    """
    lines: list[CheckLine] = []

    def add(new: list[CheckLine]) -> None:
        for line in new:
            lines.append(line)
            if echo is not None:
                echo(line.render())

    add([await _check_database(database_url)])
    add(await _check_api(api_url, token, transport))
    add([await check_broker(kafka_bootstrap)])
    add(_check_judge(judge, llm_base_url, cluster=bool(kafka_bootstrap),
                     judge_error=judge_error))
    return lines
