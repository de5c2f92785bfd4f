"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error response of the API, whatever raised it (a route, request validation, the router
for an unknown path, an unexpected exception) has the same shape::

    {"type": "https://cjgrade.dev/problems/not-found", "title": "Not found",
     "status": 404, "detail": "assignment 'x' not found; create it with ..."}

Validation errors add ``errors``: a list of ``{loc, msg}``. Internal errors never echo the
exception text, only a generic detail; the traceback goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from cjgrade.errors import CJGradeError, ConfigError, ConflictError, InputError, StorageError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "ApiProblem",
    "Forbidden",
    "NotFound",
    "Problem",
    "Unauthorized",
    "install_error_handlers",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://cjgrade.dev/problems/"
NO_ROUTE_SLUG = "no-route"
_log = logging.getLogger("cjgrade.api")

_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Validation error"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


class Problem(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class ApiProblem(Exception):
    """Raise in a route to answer with a problem+json response of ``status``."""

    status: int = 400

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})


class NotFound(ApiProblem):
    status = 404


class Unauthorized(ApiProblem):
    status = 401


class Forbidden(ApiProblem):
    status = 403


def problem_response(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    slug: str | None = None,
) -> JSONResponse:
    """Build a problem+json response for ``status`` with a human ``detail`` (``slug``
    overrides the default problem type of the status)."""
    default_slug, title = _TITLES.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or default_slug),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _summarise_validation(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        errors.append({"loc": loc, "msg": _say(err)})
    first: dict[str, Any] = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(part for part in first["loc"] if part not in ("body",)) or "request"
    detail = first["msg"] if where == "request" else f"{where}: {first['msg']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem(s), see 'errors')"
    return detail, errors


_JSON_KINDS = {
    "list": "an array",
    "str": "a string",
    "int": "a number",
    "float": "a number",
    "bool": "true/false",
    "NoneType": "null",
}


def _say(err: Mapping[str, Any]) -> str:
    """A validation error in words: the rule that was broken, never a regex or a parser's
    jargon."""
    from cjgrade.api.schemas import PATTERN_RULES

    kind = err.get("type")
    ctx = err.get("ctx") or {}
    loc = tuple(err.get("loc", ()))
    if kind == "string_pattern_mismatch":
        unknown = "has a form this field does not accept; see the schema at /docs"
        return PATTERN_RULES.get(str(ctx.get("pattern")), unknown)
    if loc == ("body",) and kind == "missing":
        return "the request body is empty; send a JSON object (Content-Type: application/json)"
    if loc == ("body",) and kind in ("model_attributes_type", "dict_type"):
        got = _JSON_KINDS.get(type(err.get("input")).__name__, "something else")
        return (
            f"the request body must be a JSON object ({{...}}) with this route's fields, not {got}"
        )
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against the schema at /docs"
    # Pydantic prefixes its messages ("Value error, ..."); the custom part is what helps.
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")


def _json_decode_problem(exc: RequestValidationError) -> JSONResponse | None:
    """A body that is not JSON: say so, with the line and column of the first error."""
    errors = exc.errors()
    if len(errors) != 1 or errors[0].get("type") != "json_invalid":
        return None
    loc = tuple(errors[0].get("loc", ()))
    reason = str((errors[0].get("ctx") or {}).get("error", "invalid JSON"))
    doc = exc.body if isinstance(exc.body, str) else ""
    pos = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
    line = doc.count("\n", 0, pos) + 1
    column = pos - (doc.rfind("\n", 0, pos) + 1) + 1
    detail = (
        f"the request body is not valid JSON: {reason} at line {line}, column {column}; send "
        "one JSON object as UTF-8 (Content-Type: application/json)"
    )
    return problem_response(422, detail, errors=[{"loc": ["body"], "msg": detail}])


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _wrong_media_type(request: Request, exc: RequestValidationError) -> JSONResponse | None:
    """415 when a route that reads a JSON body got another (or no) Content-Type: FastAPI does
    not parse such a body, so the only symptom would be a puzzling 'not an object'."""
    from fastapi.routing import APIRoute

    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return None
    given = request.headers.get("content-type")
    if _is_json(given):
        return None
    if not any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors()):
        return None
    said = f"Content-Type {given!r}" if given else "no Content-Type"
    return problem_response(
        415,
        f"{request.method} {request.url.path} takes a JSON body but got {said}; send "
        "application/json (e.g. curl -H 'Content-Type: application/json' -d '{...}')",
    )


async def _on_api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc.status, exc.detail, headers=exc.headers)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    special = _wrong_media_type(request, exc) or _json_decode_problem(exc)
    if special is not None:
        return special
    detail, errors = _summarise_validation(exc)
    return problem_response(422, detail, errors=errors)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        # Its own problem type, so a client can tell a wrong URL from an unknown assignment.
        detail = f"no route for {request.method} {request.url.path}; see /docs"
        return problem_response(404, detail, headers=exc.headers, slug=NO_ROUTE_SLUG)
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = "the request body could not be read: send UTF-8 JSON (application/json)"
    return problem_response(exc.status_code, detail, headers=exc.headers)


async def _on_cjgrade_error(request: Request, exc: Exception) -> JSONResponse:
    """Map the error hierarchy by type: NotFound 404, ConflictError 409, other InputError 422,
    StorageError 503, anything else 500 (details only in the log)."""
    assert isinstance(exc, CJGradeError)
    from cjgrade.store.records import NotFound as StoreNotFound

    if isinstance(exc, StoreNotFound):
        return problem_response(404, str(exc))
    if isinstance(exc, ConflictError):
        return problem_response(409, str(exc))
    if isinstance(exc, InputError):
        return problem_response(422, str(exc))
    if isinstance(exc, StorageError):
        # The message may name the database host and user: the log gets it, the client not.
        _log.error("storage error on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(
            503, "the database is unavailable or refused the operation; retry later"
        )
    if isinstance(exc, ConfigError):
        _log.error("configuration error on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(500, "server misconfigured; see the server log")
    _log.error("unhandled cjgrade error on %s %s: %r", request.method, request.url.path, exc)
    return problem_response(500, "internal error; see the server log")


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    # Only reached by driver errors raised outside ``store.transaction()``, which already turns
    # them into ConflictError/StorageError.
    from sqlalchemy.exc import IntegrityError

    from cjgrade.store.database import is_unique_violation

    if isinstance(exc, IntegrityError) and is_unique_violation(exc):
        return problem_response(
            409, "a concurrent request created the same record first; nothing was written, retry"
        )
    _log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(503, "the database is unavailable or refused the operation; retry")


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error class to a problem+json response."""
    app.add_exception_handler(ApiProblem, _on_api_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(CJGradeError, _on_cjgrade_error)
    from sqlalchemy.exc import DBAPIError

    app.add_exception_handler(DBAPIError, _on_database_error)
    # The database is the API's only network peer: a refused or timed-out connection is it.
    app.add_exception_handler(ConnectionError, _on_database_error)
    app.add_exception_handler(TimeoutError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)
