"""A small typed client for the cjgrade HTTP API (httpx, async).

Used by ``cjgrade admin ...`` and the ENG5 NP runner. Every failure becomes a
:mod:`cjgrade.errors` type with a one-line message that says what to do:

======================  ======================  =============================================
situation               exception               base class (CLI exit code)
======================  ======================  =============================================
connection refused      :class:`ApiUnreachable`  ``ConfigError`` (2)
401 token missing/bad   :class:`ApiAuthError`    ``ConfigError`` (2)
403 wrong role          :class:`ApiForbidden`    ``ConfigError`` (2)
404 unknown resource    :class:`ApiNotFound`     ``InputError`` (3)
409 conflict            :class:`ApiConflict`     ``ApiRejected``, ``ConflictError`` (3)
400/409/413/422         :class:`ApiRejected`     ``InputError`` (3)
5xx                     :class:`ApiServerError`  ``StorageError`` (6)
======================  ======================  =============================================

Tests inject ``transport=httpx.ASGITransport(app)`` to talk to the app in-process.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from cjgrade.api.schemas import (
    AnchorRegistered,
    AnchorSummary,
    BatchPage,
    BatchProgressOut,
    BatchResultOut,
    BatchSubmitted,
    ContentStored,
    InstructionOut,
    InstructionPage,
    ScaleOut,
    StoredText,
)
from cjgrade.config import Settings
from cjgrade.errors import ConfigError, ConflictError, InputError, StorageError

__all__ = [
    "DEFAULT_API_URL",
    "ApiAuthError",
    "ApiClient",
    "ApiConflict",
    "ApiForbidden",
    "ApiNotFound",
    "ApiRejected",
    "ApiServerError",
    "ApiUnreachable",
]

DEFAULT_API_URL = "http://127.0.0.1:8000"
TOKEN_HINT = "create one with `cjgrade admin token create --role admin` and set CJGRADE_TOKEN"
M = TypeVar("M", bound=BaseModel)


class _ApiErrorMixin:
    status: int | None = None
    problem: dict[str, Any] | None = None


class ApiUnreachable(ConfigError, _ApiErrorMixin):
    """Nothing answers at the API URL."""


class ApiAuthError(ConfigError, _ApiErrorMixin):
    """401: the token is missing, unknown or revoked."""


class ApiForbidden(ConfigError, _ApiErrorMixin):
    """403: the token is valid but its role may not use this route."""


class ApiNotFound(InputError, _ApiErrorMixin):
    """404: the assignment (or content, prompt, rubric) does not exist."""


class ApiRejected(InputError, _ApiErrorMixin):
    """400/409/413/422: the server refused the request as invalid or conflicting."""


class ApiConflict(ApiRejected, ConflictError):
    """409: the request conflicts with stored state (scale locked, name taken, in use)."""


class ApiServerError(StorageError, _ApiErrorMixin):
    """5xx: the server failed (often its database)."""


class ApiClient:
    """Async client for the admin API and the content store.

    Parameters
    ----------
    base_url
        The server root, e.g. ``http://127.0.0.1:8000`` (no ``/admin/v1`` suffix).
    token
        Bearer token; ``None`` sends no Authorization header (the server answers 401).
    transport
        An httpx transport to use instead of the network (tests: ``httpx.ASGITransport``).
    timeout
        Seconds per request.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, transport=transport, timeout=timeout
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Self:
        """A client for ``settings.api_url`` with ``settings.token`` (flags > env > config)."""
        return cls(settings.api_url, settings.token, **kwargs)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- assessment instructions -------------------------------------------------------------

    async def upsert_instructions(
        self,
        assignment_id: str,
        instructions_text: str,
        grade_scale: str,
        *,
        context_origin: str = "research_experiment",
        name: str | None = None,
        student_prompt_storage_id: str | None = None,
    ) -> InstructionOut:
        body: dict[str, Any] = {
            "assignment_id": assignment_id,
            "instructions_text": instructions_text,
            "grade_scale": grade_scale,
            "context_origin": context_origin,
        }
        if name is not None:
            body["name"] = name
        if student_prompt_storage_id is not None:
            body["student_prompt_storage_id"] = student_prompt_storage_id
        response = await self._send("POST", "/admin/v1/assessment-instructions", json=body)
        return _parse(InstructionOut, response)

    async def list_instructions(
        self,
        *,
        page: int = 1,
        page_size: int = 50,
        grade_scale: str | None = None,
        name: str | None = None,
    ) -> InstructionPage:
        """A page of assignments; ``name`` finds the one with that name (the other methods
        take ids only)."""
        params: dict[str, Any] = {"page": page, "page_size": page_size}
        for key, value in (("grade_scale", grade_scale), ("name", name)):
            if value is not None:
                params[key] = value
        response = await self._send("GET", "/admin/v1/assessment-instructions", params=params)
        return _parse(InstructionPage, response)

    async def get_instructions(self, assignment_id: str) -> InstructionOut:
        path = f"/admin/v1/assessment-instructions/assignment/{_seg(assignment_id)}"
        return _parse(InstructionOut, await self._send("GET", path))

    async def delete_instructions(self, assignment_id: str) -> None:
        path = f"/admin/v1/assessment-instructions/assignment/{_seg(assignment_id)}"
        await self._send("DELETE", path)

    # -- prompts and rubrics -------------------------------------------------------------------

    async def upload_student_prompt(self, assignment_id: str, prompt_text: str) -> StoredText:
        body = {"assignment_id": assignment_id, "prompt_text": prompt_text}
        return _parse(StoredText, await self._send("POST", "/admin/v1/student-prompts", json=body))

    async def get_student_prompt(self, assignment_id: str) -> StoredText:
        path = f"/admin/v1/student-prompts/assignment/{_seg(assignment_id)}"
        return _parse(StoredText, await self._send("GET", path))

    async def upload_judge_rubric(self, assignment_id: str, rubric_text: str) -> StoredText:
        body = {"assignment_id": assignment_id, "rubric_text": rubric_text}
        return _parse(StoredText, await self._send("POST", "/admin/v1/judge-rubrics", json=body))

    async def get_judge_rubric(self, assignment_id: str) -> StoredText:
        path = f"/admin/v1/judge-rubrics/assignment/{_seg(assignment_id)}"
        return _parse(StoredText, await self._send("GET", path))

    # -- anchors, scales, content ----------------------------------------------------------------

    async def register_anchor(
        self, assignment_id: str, grade: str, anchor_label: str, essay_text: str
    ) -> AnchorRegistered:
        body = {
            "assignment_id": assignment_id,
            "grade": grade,
            "anchor_label": anchor_label,
            "essay_text": essay_text,
        }
        response = await self._send("POST", "/admin/v1/anchors/register", json=body)
        return _parse(AnchorRegistered, response)

    async def get_anchors(self, assignment_id: str) -> AnchorSummary:
        path = f"/admin/v1/anchors/assignment/{_seg(assignment_id)}"
        return _parse(AnchorSummary, await self._send("GET", path))

    async def list_scales(self) -> list[ScaleOut]:
        response = await self._send("GET", "/admin/v1/scales")
        return TypeAdapter(list[ScaleOut]).validate_python(response.json())

    async def upload_content(self, text: str | bytes) -> str:
        """Store UTF-8 text; returns its storage id (the SHA-256 hex of the bytes)."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        response = await self._send(
            "POST",
            "/v1/content",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return _parse(ContentStored, response).storage_id

    async def get_content(self, storage_id: str) -> str:
        response = await self._send("GET", f"/v1/content/{_seg(storage_id)}")
        return response.text

    async def health(self) -> dict[str, Any]:
        response = await self._send("GET", "/healthz")
        result: dict[str, Any] = response.json()
        return result

    async def probe_token_role(self) -> str:
        """The role of this client's token: ``read``, ``runner`` or ``admin``.

        The API has no route that names the role, so it is found with two requests that
        write nothing: an empty content upload (roles admin and runner; refused with 422 after
        the role check, 403 before it) and an empty assignment (role admin only).

        Raises
        ------
        ApiAuthError
            The token is missing, unknown or revoked (401).
        """
        upload = await self._http.post("/v1/content", content=b"",
                                       headers={"Content-Type": "application/octet-stream"})
        if upload.status_code == 401:
            raise self._error_for("POST", "/v1/content", upload)
        if upload.status_code == 403:
            return "read"
        create = await self._http.post("/admin/v1/assessment-instructions", json={})
        if create.status_code == 401:
            raise self._error_for("POST", "/admin/v1/assessment-instructions", create)
        return "runner" if create.status_code == 403 else "admin"

    # -- batches (docs/batches.md) ---------------------------------------------------------------

    async def submit_batch(self, body: dict[str, Any]) -> BatchSubmitted:
        """``POST /v1/batches`` with a :class:`~cjgrade.api.schemas.BatchSubmit` body."""
        return _parse(BatchSubmitted, await self._send("POST", "/v1/batches", json=body))

    async def list_batches(self, *, page: int = 1, page_size: int = 50,
                           status: str | None = None) -> BatchPage:
        params: dict[str, Any] = {"page": page, "page_size": page_size}
        if status is not None:
            params["status"] = status
        return _parse(BatchPage, await self._send("GET", "/v1/batches", params=params))

    async def get_batch(self, batch_uuid: str) -> BatchProgressOut:
        return _parse(BatchProgressOut,
                      await self._send("GET", f"/v1/batches/{_seg(batch_uuid)}"))

    async def cancel_batch(self, batch_uuid: str) -> BatchProgressOut:
        path = f"/v1/batches/{_seg(batch_uuid)}/cancel"
        return _parse(BatchProgressOut, await self._send("POST", path))

    async def get_batch_result(self, batch_uuid: str) -> BatchResultOut:
        path = f"/v1/batches/{_seg(batch_uuid)}/result"
        return _parse(BatchResultOut, await self._send("GET", path))

    async def get_batch_artefact(self, batch_uuid: str) -> dict[str, Any]:
        """The artefact JSON (``assessment_run.json``) of a finished batch."""
        response = await self._send("GET", f"/v1/batches/{_seg(batch_uuid)}/artefact")
        doc: dict[str, Any] = response.json()
        return doc

    async def get_batch_report(self, batch_uuid: str, kind: str = "md") -> str:
        """``report.md`` (``kind="md"``) or ``report.html`` (``"html"``) of a finished batch."""
        if kind not in ("md", "html"):
            raise ValueError(f"kind must be md or html, not {kind!r}")
        response = await self._send("GET", f"/v1/batches/{_seg(batch_uuid)}/report.{kind}")
        return response.text

    # -- plumbing ------------------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise ApiUnreachable(
                f"cannot connect to the cjgrade API at {self.base_url} ({exc}); start it with "
                "`cjgrade serve` or point --api-url / CJGRADE_API_URL at a running server"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ApiUnreachable(
                f"the cjgrade API at {self.base_url} did not answer in time ({method} {path}); "
                "check the server or raise the timeout"
            ) from exc
        if response.is_success:
            return response
        raise self._error_for(method, path, response)

    def _error_for(self, method: str, path: str, response: httpx.Response) -> Exception:
        problem = _problem(response)
        detail = str(problem.get("detail") or response.reason_phrase or "no detail")
        status = response.status_code
        error: Exception
        if status == 401:
            error = ApiAuthError(
                f"the API at {self.base_url} refused the token ({_first_clause(detail)}); "
                f"{TOKEN_HINT} (or pass --token)"
            )
        elif status == 403:
            error = ApiForbidden(f"{method} {path} refused: {detail}")
        elif status == 404 and not _is_not_found_problem(problem):
            error = ApiNotFound(
                f"{self.base_url} has no route {method} {path}: point --api-url / "
                "CJGRADE_API_URL at the root of a server started with `cjgrade serve`"
            )
        elif status == 404:
            error = ApiNotFound(detail)
        elif status == 409:
            error = ApiConflict(f"{method} {path} refused (409 conflict): {detail}")
        elif 400 <= status < 500:
            error = ApiRejected(f"{method} {path} rejected ({status}): {detail}")
        else:
            error = ApiServerError(
                f"the API at {self.base_url} failed on {method} {path} ({status}): {detail}"
            )
        error.status = status
        error.problem = problem
        return error


def _parse(model: type[M], response: httpx.Response) -> M:
    return model.model_validate(response.json())


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:200]}
    return body if isinstance(body, dict) else {"detail": str(body)[:200]}


def _is_not_found_problem(problem: dict[str, Any]) -> bool:
    """Whether a 404 body is the cjgrade API saying a resource (not the route) is unknown."""
    return problem.get("type") == "https://cjgrade.dev/problems/not-found"


def _first_clause(detail: str) -> str:
    return detail.split(";", 1)[0]


def _seg(value: str) -> str:
    """Percent-encode a path segment (ids are restricted server-side, but be safe)."""
    from urllib.parse import quote

    return quote(value, safe="")
