"""Telegram Bot API rules (platforms.md §10).

``sendMessage`` text: 1–4,096 characters; with media the text becomes a caption of
0–1,024 characters. Telegram measures entities in UTF-16 code units, so this counts
UTF-16 code units too (an emoji outside the BMP counts 2): never more lenient than
Telegram. Photos: up to 10 MB, width + height ≤ 10,000, aspect ratio ≤ 20; other files
(videos, GIFs, documents) up to 50 MB (unconfirmed); an album holds 2–10 items
(unconfirmed).
"""

from __future__ import annotations

from typing import Any

from app.networks.base import Network
from app.networks.counting import (
    MB,
    MediaKind,
    MediaPolicy,
    check_media,
    error,
    limit,
    measured,
    needs_content,
    text_length,
    utf16_units,
)
from app.networks.rules import Check, MediaFacts, Verdict

NETWORK = Network.telegram
MAX_TEXT = 4096
MAX_CAPTION = 1024
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MEDIA = MediaPolicy(
    kinds=(
        MediaKind("photo", "photos", PHOTO_TYPES, max_bytes=10 * MB),
        MediaKind("file", "files", prefix="", max_bytes=50 * MB),
    ),
    max_items=10,
    accepted="photos and files",
)


def _photo_dimensions(media: list[MediaFacts]) -> list[Verdict]:
    out = []
    for i, item in enumerate(media):
        if item.mime_type.lower() not in PHOTO_TYPES or not item.width or not item.height:
            continue
        w, h = item.width, item.height
        if w + h > 10_000:
            out.append(
                error(
                    NETWORK,
                    f"media[{i}]",
                    f"Telegram allows photos whose width and height add up to 10,000 pixels; "
                    f"media {i + 1} adds up to {w + h:,}.",
                    w + h,
                    10_000,
                )
            )
        if max(w, h) / min(w, h) > 20:
            out.append(
                error(
                    NETWORK,
                    f"media[{i}]",
                    f"Telegram allows photos with an aspect ratio up to 20; media {i + 1} is "
                    f"{w}×{h} ({max(w, h) / min(w, h):.1f}).",
                )
            )
    return out


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    count = utf16_units(text)
    if media:
        maximum = limit(limits, ("max_caption_characters",), MAX_CAPTION)
        verdicts = text_length(
            NETWORK, count=count, maximum=maximum, unit="characters", how="in a media caption"
        )
        unit = "caption characters"
    else:
        maximum = limit(limits, ("max_characters",), MAX_TEXT)
        verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
        unit = "characters"
        if not text.strip():
            verdicts.append(needs_content(NETWORK, "text or media"))
    verdicts += check_media(NETWORK, media, MEDIA)
    verdicts += _photo_dimensions(media)
    return measured(NETWORK, unit, count, maximum, verdicts)
