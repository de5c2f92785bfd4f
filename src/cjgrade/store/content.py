"""Content store: immutable UTF-8 texts addressed by their SHA-256.

``put_text`` is idempotent: the same text always gets the same id and one row. Texts are stored
exactly as given (no trimming, no newline or Unicode normalisation), so the id is reproducible
with ``hashlib.sha256(text.encode("utf-8")).hexdigest()``.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.errors import InputError
from cjgrade.store._sql import insert_if_absent
from cjgrade.store.models import Content, utcnow
from cjgrade.store.records import NotFound

__all__ = ["MAX_CONTENT_BYTES", "content_id", "decode_text", "get_text", "get_texts", "put_text"]

MAX_CONTENT_BYTES = 5 * 1024 * 1024
"""Upper bound for one text (an essay is a few kB; 5 MiB leaves room for instructions)."""


def decode_text(data: bytes | str, what: str = "text") -> str:
    """Validate and decode input: UTF-8 only, not empty, no NUL, at most 5 MiB.

    Raises :class:`InputError` naming ``what`` and the first offending byte.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{what} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                "save the file as UTF-8 and try again"
            ) from None
    elif isinstance(data, str):
        text = data
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates from a lax decoder
            raise InputError(
                f"{what} contains characters that are not valid Unicode (offset {exc.start})"
            ) from None
    else:
        raise InputError(f"{what} must be text, not {type(data).__name__}")
    if not text.strip():
        raise InputError(f"{what} is empty")
    if "\x00" in text:
        raise InputError(f"{what} contains a NUL character (offset {text.index(chr(0))})")
    if len(raw) > MAX_CONTENT_BYTES:
        raise InputError(f"{what} is {len(raw)} bytes; the limit is {MAX_CONTENT_BYTES} bytes")
    return text


def content_id(text: str) -> str:
    """The id a text gets: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def put_text(session: AsyncSession, data: bytes | str, what: str = "text") -> str:
    """Store a text (or UTF-8 bytes) once and return its id."""
    text = decode_text(data, what)
    cid = content_id(text)
    await insert_if_absent(
        session,
        Content,
        {"id": cid, "text": text, "n_bytes": len(text.encode("utf-8")), "created_at": utcnow()},
        conflict=["id"],
    )
    return cid


async def get_text(session: AsyncSession, cid: str) -> str:
    """The text with id ``cid``; :class:`NotFound` when absent."""
    text = await session.scalar(select(Content.text).where(Content.id == cid))
    if text is None:
        raise NotFound(f"no content with id {cid!r}; upload it first")
    return text


async def get_texts(session: AsyncSession, ids: list[str]) -> dict[str, str]:
    """Several texts at once (missing ids raise :class:`NotFound`)."""
    wanted = set(ids)
    rows = await session.execute(select(Content.id, Content.text).where(Content.id.in_(wanted)))
    found = {cid: text for cid, text in rows.all()}
    missing = sorted(wanted - set(found))
    if missing:
        raise NotFound(f"no content with id(s) {', '.join(missing[:5])}")
    return found
