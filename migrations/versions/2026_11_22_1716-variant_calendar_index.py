"""covering index for the calendar's variant lookups

Revision ID: e91c4d7a2b06
Revises: d3a8b6f1c592
Create Date: 2026-11-22 17:15:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e91c4d7a2b06"
down_revision: str | None = "d3a8b6f1c592"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The calendar range query reads each post's variants (channel, own time) by post:
    # with these columns in the index it never visits the table rows.
    op.create_index(
        "ix_variant_post_id_channel_id_due_at",
        "variant",
        ["post_id", "channel_id", "due_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_variant_post_id_channel_id_due_at", table_name="variant")
