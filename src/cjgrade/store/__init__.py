"""Persistence: SQLAlchemy 2 (async) on SQLite or PostgreSQL, with packaged Alembic migrations.

Open with :func:`open_store` (migrates on first use), then call the repository functions with a
session from ``store.transaction()``. Public API reference: ``docs/store.md``.
"""

from cjgrade.store.anchors import (
    count_anchors_by_scale,
    delete_anchor,
    list_anchors,
    register_anchor,
    summarise_anchors,
)
from cjgrade.store.assignments import (
    check_rubric_override,
    delete_assignment,
    get_assignment,
    list_assignments,
    require_assignment,
    set_judge_rubric,
    set_student_prompt,
    upsert_assignment,
)
from cjgrade.store.content import content_id, decode_text, get_text, get_texts, put_text
from cjgrade.store.database import Store, create_engine, open_store
from cjgrade.store.migrate import current_revision, head_revision, upgrade_database
from cjgrade.store.models import utcnow
from cjgrade.store.records import (
    AnchorRecord,
    AnchorSummary,
    AssignmentRecord,
    NotFound,
    TokenRecord,
)
from cjgrade.store.tokens import create_token, list_tokens, revoke_token, verify_token

__all__ = [
    "AnchorRecord",
    "AnchorSummary",
    "AssignmentRecord",
    "NotFound",
    "Store",
    "TokenRecord",
    "check_rubric_override",
    "content_id",
    "count_anchors_by_scale",
    "create_engine",
    "create_token",
    "current_revision",
    "decode_text",
    "delete_anchor",
    "delete_assignment",
    "get_assignment",
    "get_text",
    "get_texts",
    "head_revision",
    "list_anchors",
    "list_assignments",
    "list_tokens",
    "open_store",
    "put_text",
    "register_anchor",
    "require_assignment",
    "revoke_token",
    "set_judge_rubric",
    "set_student_prompt",
    "summarise_anchors",
    "upgrade_database",
    "upsert_assignment",
    "utcnow",
    "verify_token",
]
