"""LinkedIn rules (Posts API, platforms.md §4).

Commentary: 3,000 characters (the common assumption; the API documents no limit, so
unconfirmed), counted in Unicode code points. Content: one media (image, video or
document) or a multi-image post of 2–20 images; kinds do not mix. Sizes are not
documented, so not checked. A post needs commentary, media or an article link.
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
)
from app.networks.rules import Check, MediaFacts

NETWORK = Network.linkedin
MAX_CHARACTERS = 3000
MEDIA = MediaPolicy(
    kinds=(
        MediaKind("image", "images", prefix="image/", max_items=20),
        MediaKind("video", "videos", prefix="video/", max_items=1),
        MediaKind(
            "document",
            "documents",
            frozenset(
                {
                    "application/pdf",
                    "application/vnd.ms-powerpoint",
                    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                    "application/msword",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                }
            ),
            max_items=1,
        ),
    ),
    mixing=False,
    accepted="images, videos and PDF, PowerPoint or Word documents",
    combos="1 video, or 1 document, or up to 20 images",
)


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    count = len(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
    if not text.strip() and not media and not link:
        verdicts.append(needs_content(NETWORK, "text, media or a link"))
    verdicts += check_media(NETWORK, media, MEDIA)
    return measured(NETWORK, "characters", count, maximum, verdicts)
