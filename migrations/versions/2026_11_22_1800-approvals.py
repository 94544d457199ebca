"""approvals

Revision ID: a5c1e7d93b10
Revises: e91c4d7a2b06
Create Date: 2026-11-22 18:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a5c1e7d93b10"
down_revision: str | None = "e91c4d7a2b06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approval",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_approval_post_id_post"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["user.id"],
            name=op.f("fk_approval_reviewer_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval")),
    )
    op.create_index(
        "ix_approval_post_reviewer_fingerprint",
        "approval",
        ["post_id", "reviewer_id", "fingerprint"],
        unique=False,
    )
    op.create_index(op.f("ix_approval_reviewer_id"), "approval", ["reviewer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_approval_reviewer_id"), table_name="approval")
    op.drop_index("ix_approval_post_reviewer_fingerprint", table_name="approval")
    op.drop_table("approval")
