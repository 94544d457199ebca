"""Discord webhook rules (platforms.md §11).

``content``: up to 2,000 characters (code points). Files: 10 MiB each by default
(``max_upload_size`` overrides it for boosted servers), at most 10 per message
(Discord's attachment limit, from its API docs rather than platforms.md). A message
needs content or a file.
"""

from __future__ import annotations

from typing import Any

from app.networks.base import Network
from app.networks.counting import (
    MB,
    MediaKind,
    MediaPolicy,
    check_media,
    limit,
    measured,
    needs_content,
    text_length,
)
from app.networks.rules import Check, MediaFacts

NETWORK = Network.discord
MAX_CHARACTERS = 2000


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    count = len(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
    if not text.strip() and not media:
        verdicts.append(needs_content(NETWORK, "text or a file"))
    policy = MediaPolicy(
        kinds=(
            MediaKind(
                "file", "files", prefix="", max_bytes=limit(limits, ("max_upload_size",), 10 * MB)
            ),
        ),
        max_items=limit(limits, ("max_media",), 10),
        accepted="files",
    )
    verdicts += check_media(NETWORK, media, policy)
    return measured(NETWORK, "characters", count, maximum, verdicts)
