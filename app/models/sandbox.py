"""The sandbox network's outbox: where a fresh install "publishes" without an account."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, utcnow


class SandboxPost(IdMixin, Base):
    __tablename__ = "sandbox_post"

    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), index=True
    )
    # The delivery's idempotency key: a second publish with the same key is refused
    # by the unique constraint, like a platform that honours idempotency keys.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    link: Mapped[str | None] = mapped_column(String(2048))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]
