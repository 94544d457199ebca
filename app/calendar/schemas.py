"""Calendar entries: what the calendar views need of a post, nothing more."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from app.models import PostStatus
from app.networks.base import Network


class CalendarVariant(BaseModel):
    channel_id: uuid.UUID
    network: Network
    # Set when the copy has its own time.
    due_at: datetime | None


# What the calendar shows (DESIGN: derived): the workflow status until a delivery
# leaves pending, then how publishing went.
ShownStatus = Literal[
    "idea",
    "draft",
    "in_review",
    "changes_requested",
    "approved",
    "publishing",
    "published",
    "partially_published",
    "failed",
    "needs_attention",
]


class CalendarEntry(BaseModel):
    post_id: uuid.UUID
    # What a write sends back as If-Match (the calendar moves posts).
    version: int
    title: str
    status: PostStatus
    shown_status: ShownStatus
    local_at: datetime | None
    # Which occurrence of an ambiguous local_at (what a move sends back).
    fold: int
    timezone: str
    due_at: datetime | None
    plan_id: uuid.UUID | None
    label_ids: list[uuid.UUID]
    variants: list[CalendarVariant]


class CalendarRange(BaseModel):
    start: datetime
    end: datetime
    entries: list[CalendarEntry]
