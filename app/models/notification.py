"""Notifications (in-app, one row per recipient) and outgoing webhooks.

One call of ``app.notifications.service.notify`` is one *event*: it has a stable
``event_id`` shared by the in-app rows it writes and by the webhook outbox rows
(one per subscribed endpoint), so a receiver can de-duplicate a retried delivery.

The webhook outbox (``webhook_delivery``) is a queue like the delivery table:
the scheduler's notification job claims due rows, POSTs them and records each
attempt.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EnumString, IdMixin, TimestampMixin, enum_check, utcnow


class Event(StrEnum):
    """What a notification (and a webhook event) is about."""

    submitted = "submitted"
    approved = "approved"
    changes_requested = "changes_requested"
    edited_after_approval = "edited_after_approval"
    mentioned = "mentioned"
    publish_failed = "publish_failed"
    missed = "missed"
    uncertain = "uncertain"
    channel_expired = "channel_expired"
    workspace_paused = "workspace_paused"
    workspace_resumed = "workspace_resumed"


# Sent only by "test this endpoint": never subscribed to, never an in-app row.
PING_EVENT = "ping"


class WebhookDeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its first attempt or its next retry
    sending = "sending"  # claimed by a scheduler process (lease held)
    delivered = "delivered"  # the endpoint answered 2xx
    failed = "failed"  # attempts exhausted


class Notification(IdMixin, Base):
    __tablename__ = "notification"
    __table_args__ = (
        enum_check("event", Event),
        # The list (newest first) and the unread count of one user in one workspace.
        Index(
            "ix_notification_user_id_workspace_id_created_at",
            "user_id",
            "workspace_id",
            "created_at",
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID]
    event: Mapped[Event] = mapped_column(EnumString(Event, 32))
    text: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    post_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("post.id", ondelete="SET NULL"))
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("delivery.id", ondelete="SET NULL")
    )
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="SET NULL")
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_endpoint"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    # The receiver's URL, sealed with app.crypto.CredentialBox ({"url": ...}): Slack
    # and Discord incoming webhooks carry their secret in the path. Shown masked
    # (scheme and host), never returned or logged in full.
    url_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # The URL's host alone: not secret, for display, audit events and log lines.
    host: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(200), default="")
    # Event values (see Event) this endpoint receives.
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # The signing secret, sealed with app.crypto.CredentialBox; shown once at
    # creation (and at rotation), never returned again, never logged.
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    secret_rotated_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )


_DUE = "status IN ('pending', 'sending')"


class WebhookDelivery(IdMixin, TimestampMixin, Base):
    """One event for one endpoint: the outbox row and its attempts."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        enum_check("status", WebhookDeliveryStatus),
        # The job's claim: due pending rows, and sending rows whose lease ran out.
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            sqlite_where=text(_DUE),
            postgresql_where=text(_DUE),
        ),
        # An endpoint's recent deliveries, newest first.
        Index("ix_webhook_delivery_endpoint_id_created_at", "endpoint_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(32))
    # The event as it was when it happened (the sender adds only absolute URLs).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[WebhookDeliveryStatus] = mapped_column(
        EnumString(WebhookDeliveryStatus, 16), default=WebhookDeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # While ``sending``: the claiming process; ``next_attempt_at`` is then the
    # lease's end, after which another process may claim the row again.
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    # [{"at": iso, "status_code": int|None, "error": str|None, "duration_ms": int}],
    # one entry per attempt (bounded by the attempt limit).
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
