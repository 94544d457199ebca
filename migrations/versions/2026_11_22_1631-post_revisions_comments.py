"""post revisions, comments and feed tokens

Revision ID: 8b3f5c9e1a24
Revises: 4d1a6e0c2b71
Create Date: 2026-11-22 16:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "8b3f5c9e1a24"
down_revision: str | None = "4d1a6e0c2b71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
