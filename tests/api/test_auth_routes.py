"""No route is open by accident: the route table, walked, against every role."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends

from cjgrade.api import OPEN_PATHS, create_app
from cjgrade.api.auth import ANY_ROLE, Role, RoleGuard, list_endpoints
from cjgrade.config import load_settings
from cjgrade.errors import ConfigError

from .conftest import ROLES, Api

PATH_VALUES = {"assignment_id": "no-such-assignment", "storage_id": "0" * 64,
               "batch_uuid": "0f8fad5b-d9cb-469f-a165-70867728950e"}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES[m.group(1)], path)


def endpoints(app: Any) -> list[tuple[str, str, tuple[RoleGuard, ...]]]:
    """The app's route table as the start-up check walks it (every route, every method)."""
    return list_endpoints(app)


async def test_every_route_but_the_open_ones_has_exactly_one_role_guard(api: Api) -> None:
    """Each route outside the explicit allow-list carries one RoleGuard; open routes none."""
    seen = set()
    protected = 0
    for method, path, guards in endpoints(api.app):
        seen.add(path)
        protected += path not in OPEN_PATHS
        if path in OPEN_PATHS:
            assert guards == (), f"{method} {path} is open by design but has a guard"
        else:
            assert len(guards) == 1, f"{method} {path} has {len(guards)} role guards"
    assert {"/healthz", "/metrics", "/openapi.json", "/docs"} <= seen
    assert protected >= 13  # the admin and content routes of issue #4; later ones add to it


async def test_every_protected_route_answers_401_without_a_token(api: Api) -> None:
    """Without a token, every non-allow-listed route is 401 problem+json with WWW-Authenticate."""
    async with api.client(role=None) as client:
        for method, path, _guards in endpoints(api.app):
            if path in OPEN_PATHS:
                continue
            response = await client.request(method, concrete(path))
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.headers["content-type"].startswith("application/problem+json")
            assert "cjgrade admin token create" in response.json()["detail"]


async def test_revoked_unknown_and_malformed_tokens_are_401(api: Api) -> None:
    """A revoked token, an unknown token and a non-Bearer scheme are all refused with 401."""
    headers = [
        {"Authorization": f"Bearer {api.tokens['revoked']}"},
        {"Authorization": "Bearer cjg_not-a-real-token"},
        {"Authorization": f"Basic {api.tokens['admin']}"},
        {"Authorization": "Bearer "},
    ]
    async with api.client(role=None) as client:
        for header in headers:
            response = await client.get("/admin/v1/scales", headers=header)
            assert response.status_code == 401, header
            assert response.json()["status"] == 401


async def test_wrong_role_is_403_and_right_role_passes_auth(api: Api) -> None:
    """Every role outside a route's guard gets 403 naming the needed role; roles inside it get
    past authentication (whatever the route then answers, it is not 401/403)."""
    checked_forbidden = 0
    for method, path, guards in endpoints(api.app):
        if path in OPEN_PATHS:
            continue
        (guard,) = guards
        for role in ROLES:
            async with api.client(role=role) as client:
                response = await client.request(method, concrete(path))
            if Role(role) in guard.roles:
                assert response.status_code not in (401, 403), f"{role} {method} {path}"
            else:
                checked_forbidden += 1
                assert response.status_code == 403, f"{role} {method} {path}"
                body = response.json()
                assert body["title"] == "Forbidden"
                assert "needs a token with role" in body["detail"]
    assert checked_forbidden >= 10


async def test_role_matrix_is_the_documented_one(api: Api) -> None:
    """Writes need admin; anchor registration and content upload admin or runner; reads any."""
    matrix = {
        (method, path): {r.value for r in guards[0].roles}
        for method, path, guards in endpoints(api.app)
        if path not in OPEN_PATHS
    }
    everyone = {"admin", "runner", "read"}
    assert matrix[("POST", "/admin/v1/assessment-instructions")] == {"admin"}
    assert matrix[("DELETE", "/admin/v1/assessment-instructions/assignment/{assignment_id}")] == {
        "admin"
    }
    assert matrix[("POST", "/admin/v1/student-prompts")] == {"admin"}
    assert matrix[("POST", "/admin/v1/judge-rubrics")] == {"admin"}
    assert matrix[("POST", "/admin/v1/anchors/register")] == {"admin", "runner"}
    assert matrix[("POST", "/v1/content")] == {"admin", "runner"}
    for (method, path), roles in matrix.items():
        if method == "GET":
            assert roles == everyone, path


async def test_open_routes_answer_without_a_token(api: Api) -> None:
    """/healthz, /metrics, /openapi.json and /docs need no token."""
    async with api.client(role=None) as client:
        for path in ("/healthz", "/metrics", "/openapi.json", "/docs"):
            response = await client.get(path)
            assert response.status_code == 200, path


@pytest.mark.parametrize(
    ("path", "dependencies"),
    [("/added-later", []), ("/added-twice", [ANY_ROLE, ANY_ROLE]), ("/healthz2", [])],
)
async def test_a_route_added_without_one_guard_stops_the_app_from_starting(
    database_url: str, tmp_path: Path, path: str, dependencies: list[RoleGuard]
) -> None:
    """A route added to the app after the fact, unguarded or double-guarded, is caught by the
    start-up walk of the route table: the lifespan refuses to serve and names the route."""
    settings = load_settings(env={"CJGRADE_HOME": str(tmp_path)}, database_url=database_url)
    app = create_app(settings)

    async def added() -> dict[str, str]:
        return {}

    app.add_api_route(path, added, dependencies=[Depends(d) for d in dependencies])
    with pytest.raises(ConfigError, match=f"GET {path} \\({len(dependencies)} role guards\\)"):
        async with app.router.lifespan_context(app):
            pass
