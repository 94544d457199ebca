"""Threads rules (platforms.md §7).

Text: 500 characters where each emoji counts as its number of UTF-8 bytes (so 😀 is 4,
a family ZWJ sequence 25); every other user-perceived character counts 1. Emoji are
recognised as X recognises them (``app.networks.x``). More than 5 links fails since
22 Dec 2025 (``THREADS_API__LINK_LIMIT_EXCEEDED``). Media: image, video or a carousel
of up to 20 items, images up to 8 MB, video up to 5 minutes and 1 GB (third-party
figures, unconfirmed). A post needs text or media.
"""

from __future__ import annotations

from typing import Any

from app.networks.base import Network
from app.networks.counting import (
    MB,
    MediaKind,
    MediaPolicy,
    check_media,
    graphemes,
    limit,
    measured,
    needs_content,
    text_length,
    urls,
    utf8_bytes,
)
from app.networks.rules import Check, MediaFacts
from app.networks.x import is_emoji

NETWORK = Network.threads
MAX_CHARACTERS = 500
MAX_LINKS = 5
MEDIA = MediaPolicy(
    kinds=(
        MediaKind("image", "images", prefix="image/", max_bytes=8 * MB),
        MediaKind("video", "videos", prefix="video/", max_bytes=1024 * MB, max_seconds=300),
    ),
    max_items=20,
    accepted="images and videos",
)


def threads_length(text: str) -> int:
    return sum(utf8_bytes(c) if is_emoji(c) else 1 for c in graphemes(text))


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    count = threads_length(text)
    verdicts = text_length(
        NETWORK,
        count=count,
        maximum=maximum,
        unit="characters",
        how="(each emoji counts as its UTF-8 bytes)",
    )
    links = set(urls(text))
    if link:
        links.add(link)
    if len(links) > MAX_LINKS:
        verdicts += text_length(NETWORK, count=len(links), maximum=MAX_LINKS, unit="links per post")
    if not text.strip() and not media:
        verdicts.append(needs_content(NETWORK, "text or media"))
    verdicts += check_media(NETWORK, media, MEDIA)
    return measured(NETWORK, "characters", count, maximum, verdicts)
