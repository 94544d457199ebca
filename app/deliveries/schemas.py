"""Deliveries: what the API reads and the actions it takes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.models import AttemptOutcome, DeliveryStatus, SnapshotKind
from app.networks.base import Network

# A week: longer shifts are an edit of the post, not a decision about a late one.
MAX_SHIFT_MINUTES = 7 * 24 * 60


class AttemptRead(BaseModel):
    started_at: datetime
    finished_at: datetime | None
    outcome: AttemptOutcome
    error: str | None
    http_status: int | None


class DeliveryRead(BaseModel):
    id: uuid.UUID
    post_id: uuid.UUID
    post_title: str
    channel_id: uuid.UUID
    channel_name: str
    network: Network
    status: DeliveryStatus
    due_at: datetime
    # When the scheduler will next try; None when nothing is planned (a final status,
    # or waiting for a decision after a pause).
    next_attempt_at: datetime | None
    awaiting_decision: bool
    attempt_count: int
    attempts: list[AttemptRead]
    external_id: str | None
    external_url: str | None
    published_at: datetime | None
    last_error: str | None
    updated_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    total: int
    limit: int
    offset: int


class Held(BaseModel):
    """A delivery an action left as it was, and why."""

    delivery_id: uuid.UUID
    channel_id: uuid.UUID
    channel_name: str
    reason: str


class PublishNowResult(BaseModel):
    due_now: list[DeliveryRead]
    held: list[Held]


class RetryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(
        default=False,
        description="Required for an uncertain delivery: the post may already be out, "
        "and a retry may publish it twice.",
    )


class ActionResult(BaseModel):
    delivery: DeliveryRead
    warning: str | None = None


class MarkPublishedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            description="Where the post is on the network (http or https).",
            examples=["https://mastodon.example/@almanac/1"],
        ),
    ]
    external_id: Annotated[
        str | None,
        Field(
            default=None,
            max_length=512,
            description="The network's id of the post, if known (needed for metrics "
            "and take-down).",
        ),
    ] = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be the post's http:// or https:// address")
        if any(ch.isspace() for ch in value):
            raise ValueError("must not contain spaces")
        return value


class OverdueDelivery(BaseModel):
    delivery_id: uuid.UUID
    channel_id: uuid.UUID
    channel_name: str
    network: Network
    status: DeliveryStatus
    due_at: datetime
    approved: bool


class OverduePost(BaseModel):
    post_id: uuid.UUID
    title: str
    status: str
    due_at: datetime
    version: int
    deliveries: list[OverdueDelivery]


class OverdueList(BaseModel):
    workspace_paused: bool
    items: list[OverduePost]


class OverdueDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["publish_now", "shift", "skip"]
    minutes: Annotated[
        int | None,
        Field(
            default=None,
            ge=1,
            le=MAX_SHIFT_MINUTES,
            description="For shift: how many minutes later than its planned time.",
        ),
    ] = None

    @model_validator(mode="after")
    def _minutes_for_shift(self) -> OverdueDecision:
        if self.decision == "shift" and self.minutes is None:
            raise ValueError("shift needs minutes: how many minutes later the post goes out")
        if self.decision != "shift" and self.minutes is not None:
            raise ValueError(f"minutes only goes with shift, not with {self.decision}")
        return self


class DecisionResult(BaseModel):
    post_id: uuid.UUID
    decision: str
    deliveries: list[DeliveryRead]
    held: list[Held] = Field(default_factory=list)


class SnapshotRead(BaseModel):
    kind: SnapshotKind
    taken_at: datetime
    likes: int | None
    reposts: int | None
    replies: int | None
    views: int | None


class ChannelMetrics(BaseModel):
    delivery_id: uuid.UUID
    channel_id: uuid.UUID
    channel_name: str
    network: Network
    status: DeliveryStatus
    published_at: datetime | None
    external_url: str | None
    snapshots: list[SnapshotRead]


class PostMetrics(BaseModel):
    post_id: uuid.UUID
    channels: list[ChannelMetrics]
