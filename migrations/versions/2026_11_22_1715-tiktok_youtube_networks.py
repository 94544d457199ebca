"""TikTok and YouTube channels

Revision ID: d3a8b6f1c592
Revises: c7e2a9d4f810
Create Date: 2026-11-22 17:15:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "d3a8b6f1c592"
down_revision: str | None = "c7e2a9d4f810"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
