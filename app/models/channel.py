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
    paused_at: Mapped[datetime | None]
    # Who paused it. No foreign key: adding one to channel on SQLite means rebuilding
    # the table, which changes the order of a workspace's delete cascade and trips
    # delivery.channel_id's RESTRICT. A deleted user leaves the id behind, as audit does.
    paused_by_id: Mapped[uuid.UUID | None]
    rate_limited_until: Mapped[datetime | None]
    # Expiring tokens (X: 2 hours, LinkedIn: 60 days): when the access token expires
    # (None: it does not), when the current one was obtained, consecutive refresh
    # failures, and the lease of the scheduler process refreshing it now
    # (scheduler/token_refresh.py), so two processes never spend one refresh token.
    token_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    last_refresh_at: Mapped[datetime | None]
    refresh_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    refresh_lease_until: Mapped[datetime | None]
