"""``/v1/content``: the content store over HTTP (raw UTF-8 in, SHA-256 id out)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request, Response, status

from cjgrade.api.auth import ANY_ROLE, UPLOADERS, Principal
from cjgrade.api.routes._common import store_of
from cjgrade.api.schemas import NONBLANK_PATTERN, SHA256_PATTERN, ContentStored
from cjgrade.store import content

router = APIRouter(tags=["content"])

# The body is bytes that must decode as UTF-8 text with a non-blank character and no NUL; the
# schema says so as a string with a pattern (not "format: binary", which would promise that
# arbitrary bytes are accepted).
_TEXT_SCHEMA = {"type": "string", "minLength": 1, "pattern": NONBLANK_PATTERN}
_RAW_BODY = {
    "requestBody": {
        "required": True,
        "description": "The text as raw UTF-8 bytes (not JSON); octet-stream or text/plain.",
        "content": {
            "application/octet-stream": {"schema": _TEXT_SCHEMA},
            "text/plain": {"schema": _TEXT_SCHEMA},
        },
    }
}


@router.post(
    "/v1/content",
    status_code=status.HTTP_201_CREATED,
    response_model=ContentStored,
    summary="Store a UTF-8 text; returns its SHA-256 id (roles: admin, runner)",
    openapi_extra=_RAW_BODY,
)
async def upload_content(request: Request, _: Principal = Depends(UPLOADERS)) -> ContentStored:
    """Idempotent: the same bytes always get the same id. Non-UTF-8, empty or whitespace-only
    bodies and NUL characters are refused with 422."""
    data = await request.body()
    async with store_of(request).transaction() as session:
        storage_id = await content.put_text(session, data, "content")
    return ContentStored(storage_id=storage_id)


@router.get(
    "/v1/content/{storage_id}",
    response_class=Response,
    summary="Fetch a stored text (roles: admin, runner, read)",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Text"},
        404: {"description": "No content with this id"},
    },
)
async def read_content(
    request: Request,
    storage_id: str = Path(pattern=SHA256_PATTERN, description="SHA-256 hex id."),
    _: Principal = Depends(ANY_ROLE),
) -> Response:
    async with store_of(request).transaction() as session:
        text = await content.get_text(session, storage_id)
    return Response(text, media_type="text/plain; charset=utf-8")
