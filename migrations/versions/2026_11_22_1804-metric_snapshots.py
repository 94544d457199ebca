"""metric snapshots of published deliveries

Revision ID: e0a5c1b37f54
Revises: d8f4b0a26e43
Create Date: 2026-11-22 18:04:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e0a5c1b37f54"
down_revision: str | None = "d8f4b0a26e43"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_snapshot",
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=True),
        sa.Column("reposts", sa.Integer(), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=True),
        sa.Column("views", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("kind IN ('1h', '24h', '7d')", name=op.f("ck_metric_snapshot_kind")),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.id"],
            name=op.f("fk_metric_snapshot_delivery_id_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_snapshot")),
        sa.UniqueConstraint(
            "delivery_id", "kind", name=op.f("uq_metric_snapshot_delivery_id_kind")
        ),
    )
    op.create_index(
        op.f("ix_metric_snapshot_delivery_id"), "metric_snapshot", ["delivery_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_metric_snapshot_delivery_id"), table_name="metric_snapshot")
    op.drop_table("metric_snapshot")
