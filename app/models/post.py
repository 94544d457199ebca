"""Posts (one editorial item) and their variants (the copy for one channel).

Time: the truth is the local wall time (``local_at``, naive) plus the IANA zone;
``due_at`` (UTC) is derived from them by ``app.timeutil`` and recomputed if zone
rules change. ``fold`` picks the first (0) or second (1) occurrence of an
ambiguous fall-back time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, EnumString, IdMixin, TimestampMixin, enum_check
from app.models.plan import Label, post_label


class PostStatus(StrEnum):
    idea = "idea"
    draft = "draft"
    in_review = "in_review"
    changes_requested = "changes_requested"
    approved = "approved"


_LOCAL_TIME_CONSISTENT = (
    "(local_at IS NULL AND due_at IS NULL) OR (local_at IS NOT NULL AND due_at IS NOT NULL)"
)


class Post(IdMixin, TimestampMixin, Base):
    __tablename__ = "post"
    __table_args__ = (
        enum_check("status", PostStatus),
        CheckConstraint(_LOCAL_TIME_CONSISTENT, name="local_time_consistent"),
        CheckConstraint("fold IN (0, 1)", name="fold"),
        CheckConstraint("version >= 1", name="version"),
        # The calendar: posts of a workspace in a time range.
        Index("ix_post_workspace_id_due_at", "workspace_id", "due_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    plan_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("plan.id", ondelete="SET NULL"), index=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    # [{"media_id": "...", "alt": "..."}]; the media table comes with its issue.
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    link: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[PostStatus] = mapped_column(EnumString(PostStatus, 20), default=PostStatus.draft)
    local_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    fold: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime | None]
    # Optimistic concurrency: every write needs the version it read (412 otherwise).
    version: Mapped[int] = mapped_column(default=1)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="post", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )
    labels: Mapped[list[Label]] = relationship(secondary=post_label, lazy="raise")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Variant(IdMixin, TimestampMixin, Base):
    """No text of its own (``text`` NULL) = the post's base copy, still validated
    against the channel's network. ``content_hash`` is the hash of what would be
    published now; ``approved_hash`` the one at its last approval: the variant is
    approved exactly when the two are equal."""

    __tablename__ = "variant"
    __table_args__ = (
        UniqueConstraint("post_id", "channel_id"),
        CheckConstraint(_LOCAL_TIME_CONSISTENT, name="local_time_consistent"),
        # The calendar: a post's variants (channel, own time) read from the index alone.
        Index("ix_variant_post_id_channel_id_due_at", "post_id", "channel_id", "due_at"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str | None] = mapped_column(Text)
    media: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    link: Mapped[str | None] = mapped_column(String(2048))
    # Optional own time, in the post's zone; due_at is then derived from it.
    # Both NULL: the variant goes out at the post's time.
    local_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    # Which occurrence of an ambiguous own local time (as Post.fold).
    fold: Mapped[int] = mapped_column(default=0, server_default="0")
    due_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(64))
    approved_hash: Mapped[str | None] = mapped_column(String(64))

    post: Mapped[Post] = relationship(back_populates="variants", lazy="raise")
