"""Matrix rules: generous. A whole event may not exceed 65,536 bytes (client-server
spec), so the body is held to 60,000 UTF-8 bytes to leave room for the envelope (an
approximation). Uploads: the homeserver's ``m.upload.size`` when the channel knows it
(``max_upload_size``), else unchecked.
"""

from __future__ import annotations

from typing import Any

from app.networks.base import Network
from app.networks.counting import (
    MediaKind,
    MediaPolicy,
    check_media,
    limit,
    measured,
    needs_content,
    text_length,
    utf8_bytes,
)
from app.networks.rules import Check, MediaFacts

NETWORK = Network.matrix
MAX_BYTES = 60_000


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_bytes", "max_characters"), MAX_BYTES)
    count = utf8_bytes(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="bytes of text")
    if not text.strip() and not media:
        verdicts.append(needs_content(NETWORK, "text or a file"))
    upload = limits.get("max_upload_size")
    kind = MediaKind(
        "file",
        "files",
        prefix="",
        max_bytes=limit(limits, ("max_upload_size",), 0) if upload else None,
    )
    verdicts += check_media(NETWORK, media, MediaPolicy(kinds=(kind,), accepted="files"))
    return measured(NETWORK, "bytes", count, maximum, verdicts)
