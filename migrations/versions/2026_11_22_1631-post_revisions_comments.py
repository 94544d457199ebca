"""post revisions and comments

Revision ID: 8b3f5c9e1a24
Revises: 4d1a6e0c2b71
Create Date: 2026-11-22 16:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b3f5c9e1a24"
down_revision: str | None = "4d1a6e0c2b71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("variant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fold", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "revision",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("restored_from_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user.id"], name=op.f("fk_revision_author_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_revision_post_id_post"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["restored_from_id"],
            ["revision.id"],
            name=op.f("fk_revision_restored_from_id_revision"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revision")),
    )
    op.create_index(
        "ix_revision_post_id_created_at", "revision", ["post_id", "created_at"], unique=False
    )
    op.create_table(
        "comment",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
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
            ["author_id"], ["user.id"], name=op.f("fk_comment_author_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_comment_post_id_post"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment")),
    )
    op.create_index(
        "ix_comment_post_id_created_at", "comment", ["post_id", "created_at"], unique=False
    )


def downgrade() -> None:
    with op.batch_alter_table("variant", schema=None) as batch_op:
        batch_op.drop_column("fold")
    op.drop_index("ix_comment_post_id_created_at", table_name="comment")
    op.drop_table("comment")
    op.drop_index("ix_revision_post_id_created_at", table_name="revision")
    op.drop_table("revision")
