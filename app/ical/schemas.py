"""What the feed management routes return. The token itself appears only in
:class:`IcalFeedIssued`, once, when it is created or rotated."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class IcalFeedRead(BaseModel):
    exists: bool
    prefix: str | None = Field(
        default=None, description="The start of the current token, to recognise the URL."
    )
    created_at: datetime | None = None
    rotated_at: datetime | None = None


class IcalFeedIssued(IcalFeedRead):
    url: str = Field(
        description="The feed's secret URL. Shown this once: Almanac keeps only its hash. "
        "Rotating the feed gives a new URL and stops the old one at once."
    )
