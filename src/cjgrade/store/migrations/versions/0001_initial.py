"""Initial schema: content, assignments, anchors, API tokens, batches, batch essays,
comparisons, round fits, grade projections, judge cache and the event outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def TS() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def JSONT() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("revoked_at", TS(), nullable=True),
        sa.Column("last_used_at", TS(), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'runner', 'read')", name=op.f("ck_api_tokens_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "content",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("n_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content")),
    )
    op.create_table(
        "judge_cache",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("verdict", JSONT(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_judge_cache")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column("payload", JSONT(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("published_at", TS(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_published_at_id", "outbox", ["published_at", "id"], unique=False)
    op.create_table(
        "assignments",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("instructions_id", sa.String(length=64), nullable=False),
        sa.Column("grade_scale", sa.String(length=64), nullable=False),
        sa.Column("context_origin", sa.String(length=32), nullable=False),
        sa.Column("student_prompt_id", sa.String(length=64), nullable=True),
        sa.Column("judge_rubric_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        sa.CheckConstraint(
            "context_origin IN ('research_experiment', 'canonical_national')",
            name=op.f("ck_assignments_origin"),
        ),
        sa.ForeignKeyConstraint(
            ["instructions_id"], ["content.id"], name=op.f("fk_assignments_instructions_id_content")
        ),
        sa.ForeignKeyConstraint(
            ["judge_rubric_id"], ["content.id"], name=op.f("fk_assignments_judge_rubric_id_content")
        ),
        sa.ForeignKeyConstraint(
            ["student_prompt_id"],
            ["content.id"],
            name=op.f("fk_assignments_student_prompt_id_content"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("name", name=op.f("uq_assignments_name")),
    )
    op.create_index(
        op.f("ix_assignments_grade_scale"), "assignments", ["grade_scale"], unique=False
    )
    op.create_table(
        "anchors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("assignment_id", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("grade_scale", sa.String(length=64), nullable=False),
        sa.Column("content_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_anchors_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["content_id"], ["content.id"], name=op.f("fk_anchors_content_id_content")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anchors")),
        sa.UniqueConstraint(
            "assignment_id",
            "label",
            "grade_scale",
            name=op.f("uq_anchors_assignment_id_label_grade_scale"),
        ),
    )
    op.create_index(op.f("ix_anchors_assignment_id"), "anchors", ["assignment_id"], unique=False)
    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("assignment_id", sa.String(length=100), nullable=True),
        sa.Column("grade_scale", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settings", JSONT(), nullable=False),
        sa.Column("current_round", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", TS(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        sa.Column("finished_at", TS(), nullable=True),
        sa.CheckConstraint(
            "status IN ('created', 'running', 'finalising', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_batches_status"),
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_batches_assignment_id_assignments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_index(op.f("ix_batches_assignment_id"), "batches", ["assignment_id"], unique=False)
    op.create_index(op.f("ix_batches_label"), "batches", ["label"], unique=False)
    op.create_index(op.f("ix_batches_status"), "batches", ["status"], unique=False)
    op.create_table(
        "batch_essays",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("essay_id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.String(length=64), nullable=False),
        sa.Column("is_anchor", sa.Boolean(), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("theta", sa.Float(), nullable=True),
        sa.Column("se", sa.Float(), nullable=True),
        sa.Column("n_comparisons", sa.Integer(), nullable=False),
        sa.Column("n_wins", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_batch_essays_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["content_id"], ["content.id"], name=op.f("fk_batch_essays_content_id_content")
        ),
        sa.PrimaryKeyConstraint("batch_id", "essay_id", name=op.f("pk_batch_essays")),
        sa.UniqueConstraint("batch_id", "position", name=op.f("uq_batch_essays_batch_id_position")),
    )
    op.create_table(
        "grade_projections",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("essay_id", sa.String(length=200), nullable=False),
        sa.Column("grade_scale", sa.String(length=64), nullable=False),
        sa.Column("probabilities", JSONT(), nullable=False),
        sa.Column("most_likely", sa.String(length=16), nullable=False),
        sa.Column("expected", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("confidence_label", sa.String(length=16), nullable=True),
        sa.Column("details", JSONT(), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_grade_projections_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "essay_id", name=op.f("pk_grade_projections")),
    )
    op.create_table(
        "round_fits",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("theta", JSONT(), nullable=False),
        sa.Column("se", JSONT(), nullable=False),
        sa.Column("ssr", sa.Float(), nullable=True),
        sa.Column("n_comparisons", sa.Integer(), nullable=False),
        sa.Column("stop", sa.Boolean(), nullable=False),
        sa.Column("stop_reason", sa.String(length=200), nullable=True),
        sa.Column("details", JSONT(), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_round_fits_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "round", name=op.f("pk_round_fits")),
    )
    op.create_table(
        "comparisons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("essay_a", sa.String(length=200), nullable=False),
        sa.Column("essay_b", sa.String(length=200), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("winner", sa.String(length=1), nullable=True),
        sa.Column("p_a", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("flags", JSONT(), nullable=True),
        sa.Column("provider", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=True),
        sa.Column("cache_write_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("error_reason", sa.Text(), nullable=True),
        sa.Column("raw_response", sa.Text(), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("dispatched_at", TS(), nullable=True),
        sa.Column("completed_at", TS(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_comparisons_status")
        ),
        sa.CheckConstraint(
            "winner IS NULL OR winner IN ('A', 'B')", name=op.f("ck_comparisons_winner")
        ),
        sa.CheckConstraint("essay_a <> essay_b", name=op.f("ck_comparisons_distinct_essays")),
        sa.ForeignKeyConstraint(
            ["batch_id", "essay_a"],
            ["batch_essays.batch_id", "batch_essays.essay_id"],
            name=op.f("fk_comparisons_batch_id_essay_a_batch_essays"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id", "essay_b"],
            ["batch_essays.batch_id", "batch_essays.essay_id"],
            name=op.f("fk_comparisons_batch_id_essay_b_batch_essays"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_comparisons_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparisons")),
        sa.UniqueConstraint(
            "batch_id", "round", "slot", name=op.f("uq_comparisons_batch_id_round_slot")
        ),
    )
    op.create_index(
        "ix_comparisons_batch_id_status", "comparisons", ["batch_id", "status"], unique=False
    )
    op.create_index(
        "ix_comparisons_request_sha256", "comparisons", ["request_sha256"], unique=False
    )


def downgrade() -> None:
    raise NotImplementedError("cjgrade migrations are forward-only")
