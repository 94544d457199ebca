"""Workspaces (brands), users and their role in each workspace."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EnumString, IdMixin, TimestampMixin, enum_check


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    editor = "editor"
    reviewer = "reviewer"
    viewer = "viewer"


class Workspace(IdMixin, TimestampMixin, Base):
    __tablename__ = "workspace"
    __table_args__ = (
        CheckConstraint("approvals_needed BETWEEN 1 AND 3", name="approvals_needed"),
        CheckConstraint("lateness_limit_minutes >= 0", name="lateness_limit"),
        CheckConstraint("paused = false OR paused_at IS NOT NULL", name="paused_at_set"),
    )

    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Approval policy.
    approval_required: Mapped[bool] = mapped_column(default=True)
    approvals_needed: Mapped[int] = mapped_column(default=1)
    authors_may_self_approve: Mapped[bool] = mapped_column(default=False)
    reviewer_edit_keeps_approval: Mapped[bool] = mapped_column(default=False)
    # How late a delivery may still go out before it becomes `missed`.
    lateness_limit_minutes: Mapped[int] = mapped_column(default=60)
    # The crisis switch.
    paused: Mapped[bool] = mapped_column(default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None]
    paused_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "user"

    # Stored lower-cased by the services; unique regardless of case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Calendars render in the workspace zone unless the user picks another.
    timezone: Mapped[str | None] = mapped_column(String(64))


class Membership(IdMixin, TimestampMixin, Base):
    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id"),
        enum_check("role", Role),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(EnumString(Role, 16))
