"""Metric snapshots: how a published delivery did, read from its network.

The scheduler's metrics job (``scheduler/metrics.py``) takes one snapshot of each
kind per delivery (1 hour, 24 hours and 7 days after publishing): the unique
constraint makes "once" a fact of the database, even with several schedulers.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EnumString, IdMixin, enum_check


class SnapshotKind(StrEnum):
    hour = "1h"
    day = "24h"
    week = "7d"

    @property
    def age(self) -> timedelta:
        """How long after publishing this snapshot is taken."""
        return {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}[
            self.value
        ]


class MetricSnapshot(IdMixin, Base):
    __tablename__ = "metric_snapshot"
    __table_args__ = (
        enum_check("kind", SnapshotKind),
        UniqueConstraint("delivery_id", "kind"),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("delivery.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[SnapshotKind] = mapped_column(EnumString(SnapshotKind, 8))
    taken_at: Mapped[datetime]
    # None: the network does not give this figure.
    likes: Mapped[int | None]
    reposts: Mapped[int | None]
    replies: Mapped[int | None]
    views: Mapped[int | None]
