"""Plans (a month or a quarter of a workspace) and labels."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EnumString, IdMixin, TimestampMixin, enum_check


class PlanKind(StrEnum):
    month = "month"
    quarter = "quarter"


class Plan(IdMixin, TimestampMixin, Base):
    """``period`` is ``2026-12`` for a month or ``2027-Q1`` for a quarter; the dates
    are derived from it. Periods are calendar-aligned, so one plan per kind and
    period means plans of one kind never overlap."""

    __tablename__ = "plan"
    __table_args__ = (
        UniqueConstraint("workspace_id", "kind", "period"),
        enum_check("kind", PlanKind),
        CheckConstraint("starts_on <= ends_on", name="period_order"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    kind: Mapped[PlanKind] = mapped_column(EnumString(PlanKind, 8))
    period: Mapped[str] = mapped_column(String(8))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    title: Mapped[str] = mapped_column(String(200))
    goals: Mapped[str] = mapped_column(Text, default="")
    # [{"week": "2026-W49", "theme": "..."}]
    themes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # {"mastodon": 3, ...}: posts per week per network.
    cadence_targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"<label id>": 40, ...}: percent of posts per label.
    mix_targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Label(IdMixin, TimestampMixin, Base):
    __tablename__ = "label"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    color: Mapped[str] = mapped_column(String(7), default="#6b7280")


post_label = Table(
    "post_label",
    Base.metadata,
    Column("post_id", ForeignKey("post.id", ondelete="CASCADE"), primary_key=True),
    Column("label_id", ForeignKey("label.id", ondelete="CASCADE"), primary_key=True, index=True),
)
