"""approvals

Revision ID: a5c1e7d93b10
Revises: e91c4d7a2b06
Create Date: 2026-11-22 18:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "a5c1e7d93b10"
down_revision: str | None = "e91c4d7a2b06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
