"""Post, variant, revision and comment schemas.

Times: ``local_at`` is the wall time the user chose (ISO, e.g. ``2026-12-03T09:30``)
in ``timezone`` (an IANA zone; the workspace's by default). It may carry an offset
(``2026-10-25T02:30:00+01:00``): for a time that happens twice (clocks going back)
the offset picks the occurrence, as ``fold`` (0 = first, 1 = second) does. ``due_at``
is the derived UTC instant.

Concurrency: writes carry the version they read, as ``If-Match: W/"<version>"`` or
a ``version`` field; a stale one is refused with 412.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models import PostStatus
from app.networks.base import Network
from app.timeutil import ApiDatetime

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, Field(max_length=100_000)]
Link = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
ZoneName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Fold = Annotated[int, Field(ge=0, le=1)]
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]  # posts.version is an INTEGER
MAX_MEDIA = 20
MAX_CHANNELS = 50
MAX_LABELS = 50


class MediaRef(BaseModel):
    """An uploaded media file (by id) and its alt text for this post or variant."""

    model_config = ConfigDict(extra="forbid")

    media_id: uuid.UUID
    alt: Annotated[str, Field(max_length=1500)] = ""


class PostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Body = ""
    labels: Annotated[list[uuid.UUID], Field(max_length=MAX_LABELS)] = Field(default_factory=list)
    plan_id: uuid.UUID | None = None
    media: Annotated[list[MediaRef], Field(max_length=MAX_MEDIA)] = Field(default_factory=list)
    link: Link | None = None
    local_at: ApiDatetime | None = None
    timezone: ZoneName | None = None
    fold: Fold | None = None
    status: Literal[PostStatus.idea, PostStatus.draft] = PostStatus.draft
    channels: Annotated[list[uuid.UUID], Field(max_length=MAX_CHANNELS)] = Field(
        default_factory=list
    )


class PostUpdate(BaseModel):
    """Only the fields sent change. ``plan_id: null`` detaches the post from its plan;
    ``local_at: null`` makes it undated (ideas only)."""

    model_config = ConfigDict(extra="forbid")

    version: Version | None = None
    title: Title | None = None
    body: Body | None = None
    labels: Annotated[list[uuid.UUID], Field(max_length=MAX_LABELS)] | None = None
    plan_id: uuid.UUID | None = None
    media: Annotated[list[MediaRef], Field(max_length=MAX_MEDIA)] | None = None
    link: Link | None = None
    local_at: ApiDatetime | None = None
    timezone: ZoneName | None = None
    fold: Fold | None = None
    status: Literal[PostStatus.idea, PostStatus.draft] | None = None


class VariantPut(BaseModel):
    """The whole variant: a field left out or null inherits the post's (text, media,
    link) or its time (local_at)."""

    model_config = ConfigDict(extra="forbid")

    version: Version | None = None
    text: Body | None = None
    media: Annotated[list[MediaRef], Field(max_length=MAX_MEDIA)] | None = None
    link: Link | None = None
    local_at: ApiDatetime | None = None
    fold: Fold | None = None


class VersionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version | None = None


class NetworkNote(BaseModel):
    """A warning (or, from /validate, an error) of a network's rules for one channel."""

    channel_id: uuid.UUID
    network: Network
    level: Literal["error", "warning"]
    field: str
    message: str
    count: int | None = None
    limit: int | None = None


class VariantRead(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    network: Network
    text: str | None
    media: list[MediaRef] | None
    link: str | None
    local_at: datetime | None
    # Which occurrence of an ambiguous local_at (0 = first, 1 = second): send it back.
    fold: int
    due_at: datetime | None
    effective_text: str
    content_hash: str
    approved_hash: str | None


class PostRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    title: str
    body: str
    labels: list[uuid.UUID]
    plan_id: uuid.UUID | None
    media: list[MediaRef]
    link: str | None
    status: PostStatus
    local_at: datetime | None
    timezone: str
    fold: int
    due_at: datetime | None
    author_id: uuid.UUID | None
    version: int
    variants: list[VariantRead]
    # What the networks accept but a community manager wants to know (write responses).
    warnings: list[NetworkNote] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class PostSummary(BaseModel):
    """A post in a list: no variant texts."""

    id: uuid.UUID
    title: str
    status: PostStatus
    local_at: datetime | None
    timezone: str
    due_at: datetime | None
    plan_id: uuid.UUID | None
    labels: list[uuid.UUID]
    channels: list[uuid.UUID]
    version: int


class PostPage(BaseModel):
    items: list[PostSummary]
    total: int
    limit: int
    offset: int


class ValidateVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_id: uuid.UUID
    text: Body | None = None
    media: Annotated[list[MediaRef], Field(max_length=MAX_MEDIA)] | None = None
    link: Link | None = None


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body = ""
    link: Link | None = None
    media: Annotated[list[MediaRef], Field(max_length=MAX_MEDIA)] = Field(default_factory=list)
    variants: Annotated[list[ValidateVariant], Field(max_length=MAX_CHANNELS)] = Field(
        default_factory=list
    )


class MeasureRead(BaseModel):
    unit: str
    count: int
    limit: int


class ChannelCheck(BaseModel):
    channel_id: uuid.UUID
    network: Network
    ok: bool
    measure: MeasureRead | None
    verdicts: list[NetworkNote]


class ValidateResult(BaseModel):
    ok: bool
    channels: list[ChannelCheck]


class RevisionSummary(BaseModel):
    id: uuid.UUID
    post_id: uuid.UUID
    author_id: uuid.UUID | None
    created_at: datetime
    version: int
    action: str
    changed: list[str]
    restored_from_id: uuid.UUID | None


class RevisionRead(RevisionSummary):
    before: dict[str, Any] | None
    after: dict[str, Any]


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class CommentRead(BaseModel):
    id: uuid.UUID
    post_id: uuid.UUID
    author_id: uuid.UUID | None
    body: str
    mentions: list[uuid.UUID]
    created_at: datetime
