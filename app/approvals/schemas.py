"""Request and response bodies of the workflow steps and the review inbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models import PostStatus
from app.posts.schemas import Version


class StepBody(BaseModel):
    """The version you act on, when ``If-Match`` is not sent."""

    model_config = ConfigDict(extra="forbid")

    version: Version | None = None


class RequestChangesBody(StepBody):
    comment: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
    ] = Field(description="What should change: required, the author reads it.")


class VariantChangeRead(BaseModel):
    channel_id: uuid.UUID
    channel_name: str
    network: str
    change: Literal["new", "changed", "unchanged"]
    approved_text: str | None
    text: str
    diff: list[str]


class InboxItemRead(BaseModel):
    post_id: uuid.UUID
    title: str
    status: PostStatus
    author_id: uuid.UUID | None
    due_at: datetime | None
    due_in_seconds: int | None = Field(description="Negative when the post is overdue.")
    version: int
    approvals: int
    approvals_needed: int
    last_approved_at: datetime | None
    changes: list[VariantChangeRead]


class InboxRead(BaseModel):
    items: list[InboxItemRead]
    count: int
