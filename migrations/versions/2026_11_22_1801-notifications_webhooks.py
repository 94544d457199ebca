"""notifications and outgoing webhooks

Revision ID: b6d2f8e04c21
Revises: a5c1e7d93b10
Create Date: 2026-11-22 18:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "b6d2f8e04c21"
down_revision: str | None = "a5c1e7d93b10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
