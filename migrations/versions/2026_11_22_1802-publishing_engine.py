"""publishing engine: attempts, metric snapshots, pauses

Revision ID: c7e3a9f15d32
Revises: b6d2f8e04c21
Create Date: 2026-11-22 18:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "c7e3a9f15d32"
down_revision: str | None = "b6d2f8e04c21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
