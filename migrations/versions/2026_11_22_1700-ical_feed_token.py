"""iCal feed token per workspace

Revision ID: c7e2a9d4f810
Revises: 8b3f5c9e1a24
Create Date: 2026-11-22 17:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "c7e2a9d4f810"
down_revision: str | None = "8b3f5c9e1a24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
