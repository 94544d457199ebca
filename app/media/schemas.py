"""Media schemas. Uploads are multipart (``file`` and optional ``alt``), not JSON:
see :mod:`app.media.upload`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

MAX_ALT_CHARS = 1500

AltText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_ALT_CHARS)]


class MediaUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The description read by screen readers; empty removes it.
    alt: AltText


class MediaRead(BaseModel):
    id: uuid.UUID
    filename: str
    # Sniffed from the bytes, never taken from the name or the uploader's header.
    mime_type: str
    size_bytes: int
    width: int | None
    height: int | None
    # Videos only, read by ffprobe (null when ffprobe is not installed).
    duration_seconds: float | None
    video_codec: str | None
    alt: str
    created_at: datetime
    # Where members download the bytes (signed in, member of the workspace).
    url: str
