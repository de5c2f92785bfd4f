"""Content store: SHA-256 addressing, idempotence and input validation."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from cjgrade.errors import InputError
from cjgrade.store import NotFound, Store, get_text, get_texts, put_text
from cjgrade.store.content import MAX_CONTENT_BYTES
from cjgrade.store.models import Content


async def test_same_text_twice_one_row(store: Store) -> None:
    """Storing a text twice returns the same SHA-256 id and keeps one row."""
    text = "Dear diary,\nToday I learnt about comparative judgement. ✓\n"
    async with store.transaction() as s:
        first = await put_text(s, text)
    async with store.transaction() as s:
        second = await put_text(s, text.encode("utf-8"))
        n = await s.scalar(select(func.count()).select_from(Content))
    assert first == second == hashlib.sha256(text.encode()).hexdigest()
    assert n == 1
    async with store.transaction() as s:
        assert await get_text(s, first) == text


async def test_text_stored_verbatim(store: Store) -> None:
    """SQL-looking text, quotes, whitespace and non-ASCII come back byte for byte."""
    texts = [
        "'; DROP TABLE content; --",
        'Robert"); DELETE FROM anchors WHERE 1=1; --',
        "  leading and trailing spaces  \r\n",
        "Åsa skrev: «ÄÖ» — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \\x00 not a nul",
    ]
    async with store.transaction() as s:
        ids = [await put_text(s, t) for t in texts]
    async with store.transaction() as s:
        found = await get_texts(s, ids)
        n = await s.scalar(select(func.count()).select_from(Content))
    assert [found[i] for i in ids] == texts
    assert n == len(texts)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"caf\xe9 au lait", r"not valid UTF-8 \(byte 0xe9 at offset 3\)"),
        (b"\xff\xfeh\x00i\x00", "not valid UTF-8"),
        ("", "empty"),
        ("   \n\t ", "empty"),
        (b"", "empty"),
        ("nul\x00inside", "NUL"),
        ("lone \ud800 surrogate", "not valid Unicode"),
    ],
)
async def test_bad_text_rejected_and_nothing_written(
    store: Store, data: bytes | str, message: str
) -> None:
    """Non-UTF-8 bytes, empty texts, NULs and surrogates raise InputError; no row is written."""
    with pytest.raises(InputError, match=message):
        async with store.transaction() as s:
            await put_text(s, data)
    async with store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Content)) == 0


async def test_oversized_text_rejected(store: Store) -> None:
    """A text above the size limit is refused with the limit in the message."""
    with pytest.raises(InputError, match=str(MAX_CONTENT_BYTES)):
        async with store.transaction() as s:
            await put_text(s, "x" * (MAX_CONTENT_BYTES + 1))


async def test_unknown_id_not_found(store: Store) -> None:
    """Reading an id that was never stored raises NotFound (an InputError)."""
    async with store.transaction() as s:
        with pytest.raises(NotFound):
            await get_text(s, "0" * 64)
        with pytest.raises(NotFound):
            await get_texts(s, ["1" * 64])
