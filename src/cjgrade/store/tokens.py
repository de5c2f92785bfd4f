"""API tokens: random secrets of which only the SHA-256 is stored.

``create_token`` returns the plaintext once; ``verify_token`` maps a presented token to its
record (and role) or None for unknown/revoked tokens. Roles: ``admin`` (everything), ``runner``
(run batches, register anchors), ``read`` (read-only); what each role may do is the API's call.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import cast, get_args

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cjgrade.errors import InputError
from cjgrade.store.models import ApiToken, utcnow
from cjgrade.store.records import NotFound, TokenRecord, TokenRole, record_from_row

__all__ = [
    "TOKEN_PREFIX",
    "create_token",
    "hash_token",
    "list_tokens",
    "revoke_token",
    "verify_token",
]

TOKEN_PREFIX = "cjg_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most once per this interval per token, so authenticating a
request is a read, not a write, in the common case."""


def hash_token(token: str) -> str:
    """Hex SHA-256 of the token as presented (prefix included)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _record(row: ApiToken) -> TokenRecord:
    return record_from_row(TokenRecord, row, role=cast(TokenRole, row.role))


async def create_token(session: AsyncSession, name: str, role: str) -> tuple[TokenRecord, str]:
    """Create a token; returns ``(record, plaintext)``. The plaintext is not stored anywhere."""
    roles = get_args(TokenRole)
    if role not in roles:
        raise InputError(f"role {role!r} is invalid; use one of {', '.join(roles)}")
    if not name.strip() or len(name) > 200:
        raise InputError("token name must be 1-200 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        id=str(uuid.uuid4()),
        name=name,
        role=role,
        token_hash=hash_token(secret),
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _record(row), secret


async def verify_token(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> TokenRecord | None:
    """The active token matching ``token`` (``.role`` is its role), or None.

    Records ``last_used_at`` when it is older than :data:`LAST_USED_RESOLUTION` (or unset), so
    its precision is a minute and most requests write nothing.
    """
    if not token:
        return None
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        await session.flush()
    return _record(row)


async def list_tokens(session: AsyncSession, *, include_revoked: bool = True) -> list[TokenRecord]:
    """All tokens, oldest first (no secrets, no hashes)."""
    stmt = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return [_record(r) for r in await session.scalars(stmt)]


async def revoke_token(session: AsyncSession, token_id: str) -> TokenRecord:
    """Revoke a token by id (idempotent); :class:`NotFound` for an unknown id."""
    await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    row = await session.get(ApiToken, token_id, populate_existing=True)
    if row is None:
        raise NotFound(f"no token with id {token_id!r}; see `cjgrade admin token list`")
    return _record(row)
