"""index on revision.restored_from_id

Revision ID: f1b6d2c48a65
Revises: e0a5c1b37f54
Create Date: 2026-11-22 18:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f1b6d2c48a65"
down_revision: str | None = "e0a5c1b37f54"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Deleting revisions checks this self-referencing foreign key: without an index,
    # one table scan per deleted row (~100 s for 10,000 revisions on SQLite).
    op.create_index("ix_revision_restored_from_id", "revision", ["restored_from_id"])


def downgrade() -> None:
    op.drop_index("ix_revision_restored_from_id", table_name="revision")
