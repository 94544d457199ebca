"""channel token expiry and OAuth connect state

Revision ID: d8f4b0a26e43
Revises: c7e3a9f15d32
Create Date: 2026-11-22 18:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d8f4b0a26e43"
down_revision: str | None = "c7e3a9f15d32"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NETWORKS = (
    "'mastodon', 'bluesky', 'x', 'linkedin', 'facebook', 'instagram', 'threads', 'tiktok', "
    "'youtube', 'telegram', 'discord', 'matrix', 'webhook', 'sandbox'"
)


def upgrade() -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_refresh_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("refresh_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("refresh_lease_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_channel_token_expires_at"), ["token_expires_at"], unique=False
        )
    op.create_table(
        "oauth_state",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(length=24), nullable=False),
        sa.Column("verifier_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(f"network IN ({NETWORKS})", name=op.f("ck_oauth_state_network")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_oauth_state_user_id_user"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_oauth_state_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_state")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_state_state_hash")),
    )
    op.create_index(op.f("ix_oauth_state_expires_at"), "oauth_state", ["expires_at"], unique=False)
    op.create_index(op.f("ix_oauth_state_user_id"), "oauth_state", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_oauth_state_workspace_id"), "oauth_state", ["workspace_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oauth_state_workspace_id"), table_name="oauth_state")
    op.drop_index(op.f("ix_oauth_state_user_id"), table_name="oauth_state")
    op.drop_index(op.f("ix_oauth_state_expires_at"), table_name="oauth_state")
    op.drop_table("oauth_state")
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_token_expires_at"))
        batch_op.drop_column("refresh_lease_until")
        batch_op.drop_column("refresh_failures")
        batch_op.drop_column("last_refresh_at")
        batch_op.drop_column("token_expires_at")
