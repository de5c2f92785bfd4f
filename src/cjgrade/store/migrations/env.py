"""Alembic environment: runs on the connection handed over by ``cjgrade.store.migrate``."""

from __future__ import annotations

from alembic import context

from cjgrade.store.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations with `cjgrade db upgrade` (or cjgrade.store.migrate), not bare alembic"
    )
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
