"""API tokens: plaintext shown once, only hashes stored, verify and revoke."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cjgrade.errors import InputError
from cjgrade.store import NotFound, Store, create_token, list_tokens, revoke_token, verify_token
from cjgrade.store.models import ApiToken
from cjgrade.store.tokens import hash_token


async def test_create_verify_revoke(store: Store) -> None:
    """A new token verifies to its role; after revocation it verifies to None."""
    async with store.transaction() as s:
        rec, secret = await create_token(s, "ci runner", "runner")
    assert secret.startswith("cjg_") and len(secret) > 40
    async with store.transaction() as s:
        found = await verify_token(s, secret)
    assert found is not None and found.role == "runner" and found.last_used_at is not None
    async with store.transaction() as s:
        revoked = await revoke_token(s, rec.id)
        again = await revoke_token(s, rec.id)
    assert revoked.revoked_at is not None and again.revoked_at == revoked.revoked_at
    async with store.transaction() as s:
        assert await verify_token(s, secret) is None
        assert [t.active for t in await list_tokens(s)] == [False]
        assert await list_tokens(s, include_revoked=False) == []


async def test_only_hash_stored(store: Store) -> None:
    """The database holds the SHA-256 of the secret, never the secret."""
    async with store.transaction() as s:
        _, secret = await create_token(s, "admin", "admin")
    async with store.transaction() as s:
        row = (await s.scalars(select(ApiToken))).one()
    assert row.token_hash == hash_token(secret)
    assert secret not in repr(row.__dict__)


@pytest.mark.parametrize("presented", ["", "cjg_wrong", "' OR '1'='1"])
async def test_wrong_tokens_rejected(store: Store, presented: str) -> None:
    """Unknown, empty and SQL-looking tokens verify to None."""
    async with store.transaction() as s:
        await create_token(s, "reader", "read")
        assert await verify_token(s, presented) is None


async def test_bad_role_name_and_unknown_id(store: Store) -> None:
    """Unknown roles and blank names are refused; revoking an unknown id is NotFound."""
    async with store.transaction() as s:
        with pytest.raises(InputError, match="role"):
            await create_token(s, "x", "superuser")
        with pytest.raises(InputError, match="name"):
            await create_token(s, " ", "read")
        with pytest.raises(NotFound):
            await revoke_token(s, "no-such-id")


async def test_last_used_written_at_most_once_a_minute(store: Store) -> None:
    """Verifying a token records last_used_at, but again only once the stored time is a minute
    old: most authenticated requests write nothing."""
    from datetime import timedelta

    from sqlalchemy import update

    async with store.transaction() as s:
        _, secret = await create_token(s, "reader", "read")
    async with store.transaction() as s:
        first = await verify_token(s, secret)
    assert first is not None and first.last_used_at is not None
    async with store.transaction() as s:
        second = await verify_token(s, secret, now=first.last_used_at + timedelta(seconds=59))
    assert second is not None and second.last_used_at == first.last_used_at
    later = first.last_used_at + timedelta(seconds=61)
    async with store.transaction() as s:
        third = await verify_token(s, secret, now=later)
    assert third is not None and third.last_used_at == later
    async with store.transaction() as s:
        await s.execute(update(ApiToken).values(last_used_at=None))
        assert (await verify_token(s, secret)) is not None
        assert (await list_tokens(s))[0].last_used_at is not None
