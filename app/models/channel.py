"""Channels: one connected account on one network."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EnumString, IdMixin, TimestampMixin, enum_check
from app.networks.base import Network


class ChannelStatus(StrEnum):
    connected = "connected"
    expired = "expired"
    error = "error"


class Channel(IdMixin, TimestampMixin, Base):
    __tablename__ = "channel"
    __table_args__ = (
        enum_check("network", Network),
        enum_check("status", ChannelStatus),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    network: Mapped[Network] = mapped_column(EnumString(Network, 24))
    name: Mapped[str] = mapped_column(String(120))
    # Fernet token (see app.crypto); never returned by the API, never logged.
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[ChannelStatus] = mapped_column(
        EnumString(ChannelStatus, 16), default=ChannelStatus.connected
    )
    status_message: Mapped[str | None] = mapped_column(Text)
    account_handle: Mapped[str | None] = mapped_column(String(255))
    # Limits read from the network where it exposes them (e.g. a Mastodon
    # instance's max_characters); the network's defaults apply otherwise.
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verified_at: Mapped[datetime | None]
    paused: Mapped[bool] = mapped_column(default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    rate_limited_until: Mapped[datetime | None]
