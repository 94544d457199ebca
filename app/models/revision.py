"""Revisions: every change of a post's content or time, with who, when, which
fields, and the post (with its variants) before and after."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, utcnow


class Revision(IdMixin, Base):
    __tablename__ = "revision"
    __table_args__ = (
        Index("ix_revision_post_id_created_at", "post_id", "created_at"),
        # The self-referencing foreign key: without it, deleting revisions (a post, a
        # workspace) checks it with a table scan per deleted row.
        Index("ix_revision_restored_from_id", "restored_from_id"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The post's version after this change.
    version: Mapped[int]
    # "created", "updated", "variant", "restored".
    action: Mapped[str] = mapped_column(String(16))
    # Field names ("body", "local_at", "variants.<channel id>.text", ...).
    changed: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Snapshots of the post and its variants; ``before`` is NULL for the first one.
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    # For a restore: the revision whose ``after`` was brought back.
    restored_from_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("revision.id", ondelete="SET NULL")
    )
