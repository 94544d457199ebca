"""covering index for the calendar's variant lookups

Revision ID: e91c4d7a2b06
Revises: d3a8b6f1c592
Create Date: 2026-11-22 17:15:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "e91c4d7a2b06"
down_revision: str | None = "d3a8b6f1c592"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
