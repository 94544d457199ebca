"""One row per live scheduler process: pages and /readyz warn when none is fresh."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class SchedulerHeartbeat(Base):
    __tablename__ = "scheduler_heartbeat"

    # "<hostname>:<pid>:<random>", also the owner written into delivery leases.
    process_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
