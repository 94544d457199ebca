"""publishing engine: attempts, metric snapshots, pauses

Revision ID: c7e3a9f15d32
Revises: b6d2f8e04c21
Create Date: 2026-11-22 18:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7e3a9f15d32"
down_revision: str | None = "b6d2f8e04c21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES = (
    "outcome IN ('started', 'published', 'transient', 'rate_limited', 'permanent', "
    "'expired', 'lease_expired', 'error')"
)


def upgrade() -> None:
    op.create_table(
        "delivery_attempt",
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("process_id", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(_OUTCOMES, name=op.f("ck_delivery_attempt_outcome")),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.id"],
            name=op.f("fk_delivery_attempt_delivery_id_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempt")),
    )
    op.create_index(
        op.f("ix_delivery_attempt_delivery_id"), "delivery_attempt", ["delivery_id"], unique=False
    )
    op.create_index(
        "ix_delivery_sending_channel",
        "delivery",
        ["channel_id"],
        unique=False,
        sqlite_where=sa.text("status = 'sending'"),
        postgresql_where=sa.text("status = 'sending'"),
    )
    # Plain ADD COLUMN, not a batch rebuild (no foreign key, see the model): recreating
    # channel on SQLite would change the order in which a workspace's deletion
    # cascades and trip delivery.channel_id's RESTRICT.
    op.add_column("channel", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("channel", sa.Column("paused_by_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_column("paused_by_id")
        batch_op.drop_column("paused_at")
    op.drop_index(
        "ix_delivery_sending_channel",
        table_name="delivery",
        sqlite_where=sa.text("status = 'sending'"),
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.drop_index(op.f("ix_delivery_attempt_delivery_id"), table_name="delivery_attempt")
    op.drop_table("delivery_attempt")
