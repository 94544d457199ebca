"""Notification and webhook schemas. A webhook's signing secret appears only in
:class:`WebhookSecret` (the answers to create and rotate), never in a read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models import Event, WebhookDeliveryStatus

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class NotificationRead(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event: Event
    text: str
    actor_id: uuid.UUID | None
    post_id: uuid.UUID | None
    delivery_id: uuid.UUID | None
    channel_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    read: bool


class NotificationList(BaseModel):
    items: list[NotificationRead]
    total: int
    unread: int
    limit: int
    offset: int


class UnreadCount(BaseModel):
    unread: int


class MarkRead(BaseModel):
    """Either ``ids`` (your notifications to mark read) or ``all: true``."""

    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] | None = Field(default=None, max_length=500)
    all: bool = False


class MarkedRead(BaseModel):
    marked: int
    unread: int


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    # Event types to receive; all of them when omitted.
    event_types: list[Event] | None = None
    enabled: bool = True
    description: Description = ""


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_types: list[Event] | None = None
    enabled: bool | None = None
    description: Description | None = None


class WebhookRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    # Masked: scheme and host only (``https://hooks.slack.com/…``); the path of an
    # incoming-webhook URL is its secret.
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    # False when no configured encryption key opens the stored secret: rotate it.
    secret_readable: bool
    secret_rotated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookSecret(WebhookRead):
    """Shown once: at creation and after a rotation. Store it now."""

    secret: str


class WebhookAttempt(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int | None


class WebhookDeliveryRead(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[WebhookAttempt]
