"""Facebook Page rules (Graph API, platforms.md §5; its figures are unconfirmed).

Message: 63,206 characters (code points). Photos: JPEG or PNG under 4 MB; several
photos go as one post (``attached_media``); a video goes alone through the Video API.
A post needs a message, a link or media.
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

NETWORK = Network.facebook
MAX_CHARACTERS = 63206
MEDIA = MediaPolicy(
    kinds=(
        MediaKind("photo", "photos", frozenset({"image/jpeg", "image/png"}), max_bytes=4 * MB),
        MediaKind("video", "videos", prefix="video/", max_items=1),
    ),
    mixing=False,
    accepted="JPEG or PNG photos and videos",
    combos="photos, or 1 video alone,",
)


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    count = len(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
    if not text.strip() and not media and not link:
        verdicts.append(needs_content(NETWORK, "a message, a link or media"))
    verdicts += check_media(NETWORK, media, MEDIA)
    return measured(NETWORK, "characters", count, maximum, verdicts)
