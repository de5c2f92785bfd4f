"""Bearer-token authentication with roles.

Tokens are opaque random strings created by ``cjgrade admin token create --role ROLE``; the
store keeps only their hash. A request presents ``Authorization: Bearer <token>``.

- no token, a malformed header, an unknown or revoked token: **401** with
  ``WWW-Authenticate: Bearer`` (the client must authenticate differently);
- a valid token whose role is not allowed on the route: **403** naming the roles that are.

Each protected route declares its allowed roles with one :class:`RoleGuard` dependency.
:func:`check_route_guards` walks the route table when the app starts and refuses to serve if a
route outside the open allow-list has no guard (or several), so a route added later cannot be
open by accident; the route-table tests use the same walk. The role matrix is in
``docs/api.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cjgrade.api.errors import Forbidden, Unauthorized
from cjgrade.errors import ConfigError

__all__ = [
    "ADMIN_ONLY",
    "ANY_ROLE",
    "UPLOADERS",
    "Principal",
    "Role",
    "RoleGuard",
    "TokenResolver",
    "check_route_guards",
    "list_endpoints",
]

REALM = 'Bearer realm="cjgrade"'
CREATE_HINT = "create one with `cjgrade admin token create --role admin` and set CJGRADE_TOKEN"


class Role(StrEnum):
    """What a token may do. See the role matrix in docs/api.md."""

    ADMIN = "admin"
    RUNNER = "runner"
    READ = "read"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: which token and which role."""

    token_id: str
    role: Role
    label: str = ""


TokenResolver = Callable[[str], Awaitable[Principal | None]]
"""Map a presented token to its principal, or None when unknown or revoked."""

_bearer = HTTPBearer(auto_error=False, description="A token from `cjgrade admin token create`.")


class RoleGuard:
    """FastAPI dependency: authenticate the bearer token and require one of ``roles``."""

    def __init__(self, *roles: Role) -> None:
        if not roles:
            raise ValueError("a RoleGuard needs at least one role")
        self.roles = frozenset(roles)

    def __repr__(self) -> str:
        return f"RoleGuard({', '.join(sorted(self.roles))})"

    async def __call__(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        if credentials is None or not credentials.credentials.strip():
            raise Unauthorized(
                f"missing bearer token (Authorization: Bearer <token>); {CREATE_HINT}",
                headers={"WWW-Authenticate": REALM},
            )
        resolve: TokenResolver = request.app.state.resolve_token
        principal = await resolve(credentials.credentials.strip())
        if principal is None:
            raise Unauthorized(
                f"token not recognised or revoked; {CREATE_HINT}",
                headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
            )
        if principal.role not in self.roles:
            needed = " or ".join(sorted(self.roles))
            raise Forbidden(
                f"this route needs a token with role {needed}; yours has role "
                f"{principal.role.value}; create one with "
                f"`cjgrade admin token create --role {_suggest(self.roles)}`",
                headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope"'},
            )
        request.state.principal = principal
        return principal


def _suggest(roles: frozenset[Role]) -> str:
    for role in (Role.READ, Role.RUNNER, Role.ADMIN):
        if role in roles:
            return role.value
    return Role.ADMIN.value


ADMIN_ONLY = RoleGuard(Role.ADMIN)
"""Writes to assignments, prompts, rubrics; deletes."""

UPLOADERS = RoleGuard(Role.ADMIN, Role.RUNNER)
"""Content upload and anchor registration: what the ENG5 runner writes."""

ANY_ROLE = RoleGuard(Role.ADMIN, Role.RUNNER, Role.READ)
"""Reads."""


def _walk_routes(app: Any) -> list[Any]:
    """Every route as the router sees it (flattening mounted/included routers if nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return list(app.routes)
    return [ctx.original_route for ctx in iter_route_contexts(app.routes)]


def _guards_of(route: Any) -> tuple[RoleGuard, ...]:
    """The RoleGuard dependencies anywhere in a route's dependency tree."""
    found: list[RoleGuard] = []
    stack = [getattr(route, "dependant", None)]
    while stack:
        dependant = stack.pop()
        if dependant is None:
            continue
        if isinstance(dependant.call, RoleGuard):
            found.append(dependant.call)
        stack.extend(dependant.dependencies)
    return tuple(found)


def list_endpoints(app: Any) -> list[tuple[str, str, tuple[RoleGuard, ...]]]:
    """``(method, path template, role guards)`` for every method of every route (no HEAD)."""
    out = []
    for route in _walk_routes(app):
        guards = _guards_of(route)
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                out.append((method, str(route.path), guards))
    return out


def check_route_guards(app: Any, open_paths: Collection[str]) -> None:
    """Raise :class:`ConfigError` unless every route outside ``open_paths`` has exactly one
    :class:`RoleGuard` and the open ones have none."""
    wrong = [
        f"{method} {path} ({len(guards)} role guards)"
        for method, path, guards in list_endpoints(app)
        if len(guards) != (0 if path in open_paths else 1)
    ]
    if wrong:
        raise ConfigError(
            "refusing to serve routes without exactly one role guard: "
            + ", ".join(wrong)
            + "; add `Depends(ADMIN_ONLY | UPLOADERS | ANY_ROLE)` or list the path in OPEN_PATHS"
        )
