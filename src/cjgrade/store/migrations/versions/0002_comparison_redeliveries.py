"""Comparisons record their re-dispatches and the judge calls paid again.

``redispatches`` counts requests published again because no result came; ``repeat_calls``
counts judge calls whose results arrived after the outcome was stored (a second call, not a
replay of the stored one: told apart by ``result_event_id``; ``repeat_event_ids`` keeps the
repeats recorded, so one delivered again is not counted twice).

Revision ID: 0002_comparison_redeliveries
Revises: 0001_initial
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_comparison_redeliveries"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def JSONT() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("comparisons") as batch:
        batch.add_column(sa.Column("redispatches", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("repeat_calls", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("result_event_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("repeat_event_ids", JSONT(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("comparisons") as batch:
        batch.drop_column("repeat_event_ids")
        batch.drop_column("result_event_id")
        batch.drop_column("repeat_calls")
        batch.drop_column("redispatches")
