"""channel token expiry and OAuth connect state

Revision ID: d8f4b0a26e43
Revises: c7e3a9f15d32
Create Date: 2026-11-22 18:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "d8f4b0a26e43"
down_revision: str | None = "c7e3a9f15d32"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
