"""The iCal feed of a workspace: one secret URL per workspace, stored as its SHA-256.

The token in the URL is the only credential a calendar client sends, so it is
treated like an API token: shown once, stored hashed, replaced (not revealed again)
when an admin rotates it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, utcnow


class IcalFeed(IdMixin, Base):
    __tablename__ = "ical_feed"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's visible start (``cal_<hex>``), to recognise which URL is current.
    prefix: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None]
