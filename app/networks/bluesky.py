"""Bluesky rules (lexicon ``app.bsky.feed.post`` and its embeds, from platforms.md).

Text: at most 300 graphemes AND 3,000 UTF-8 bytes (``maxGraphemes``/``maxLength``);
empty only with an embed (media or a link card). Images: up to 4, 2,000,000 bytes each
(lexicon since April 2026; the posts guide still says 1,000,000), ``alt`` expected on
each. Video: one ``video/mp4``, 300 MB (lexicon; the duration limit is unconfirmed, so
not checked). Images and a video do not mix (they are different embeds).
"""

from __future__ import annotations

from typing import Any

from app.networks.base import Network
from app.networks.counting import (
    MediaKind,
    MediaPolicy,
    check_media,
    grapheme_count,
    limit,
    measured,
    needs_content,
    text_length,
    utf8_bytes,
)
from app.networks.rules import Check, Level, MediaFacts

NETWORK = Network.bluesky
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
IMAGE_BYTES = 2_000_000
VIDEO_BYTES = 300_000_000


def media_policy(limits: dict[str, Any]) -> MediaPolicy:
    image = MediaKind(
        "image",
        "images",
        prefix="image/",
        max_bytes=limit(limits, ("image_size_limit",), IMAGE_BYTES),
        max_items=4,
        alt=True,
    )
    video = MediaKind(
        "video",
        "videos",
        frozenset({"video/mp4"}),
        max_bytes=limit(limits, ("video_size_limit",), VIDEO_BYTES),
        max_items=1,
        alt=True,
    )
    return MediaPolicy(
        kinds=(image, video),
        mixing=False,
        alt_missing=Level.warning,
        accepted="images and MP4 videos",
        combos="up to 4 images or 1 video",
    )


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    max_graphemes = limit(limits, ("max_characters", "max_graphemes"), MAX_GRAPHEMES)
    max_bytes = limit(limits, ("max_bytes",), MAX_BYTES)
    count = grapheme_count(text)
    size = utf8_bytes(text)
    verdicts = text_length(NETWORK, count=count, maximum=max_graphemes, unit="characters")
    verdicts += text_length(
        NETWORK, count=size, maximum=max_bytes, unit="bytes of text", how="(UTF-8)"
    )
    if not text.strip() and not media and not link:
        verdicts.append(needs_content(NETWORK, "text, media or a link card"))
    verdicts += check_media(NETWORK, media, media_policy(limits))
    return measured(NETWORK, "characters", count, max_graphemes, verdicts)
