"""TikTok rules (Content Posting API, platforms.md §8).

A post is either **one video** or a **photo post** of up to 35 photos; media is
required and the two kinds never mix.

- Video post: the copy is the ``title`` field (TikTok's caption), up to 2,200 UTF-16
  code units. Video MP4, WebM or MOV, up to 4 GB and 10 minutes — or the creator's
  own maximum, ``max_video_post_duration_sec`` from ``creator_info/query``, which a
  channel's verified ``limits`` carry.
- Photo post: ``post_info`` has a ``title`` (90) and a ``description`` (4,000). We
  publish the copy's **first line as the title and the rest as the description**
  (both stripped); see :func:`split_photo_copy`, which the adapter must use too.
  Photos JPEG or WebP, up to 20 MB each.
- Hashtags (``#``) and @-mentions are plain characters in the caption: they count
  toward the limit like any other text; TikTok documents no separate cap for them.
- TikTok cannot attach a link to a post, and links in a caption are not clickable:
  both are warnings. There is no alt text.

**Unconfirmed** (platforms.md marks them third-party): the caption's 2,200 UTF-16
units, the photo title 90 / description 4,000 (we count them in UTF-16 units as
well), the video formats, 4 GB, 10 minutes, photo formats, 20 MB and 35 photos.
That links are not clickable is common knowledge, not from platforms.md. The
≈15 posts per creator per day cap is a publishing quota, not a content rule.

``limits`` keys (all optional): ``max_characters`` (caption), ``max_title_characters``,
``max_description_characters`` (photo post), ``max_video_post_duration_sec`` (or
``max_video_seconds``), ``max_video_size``, ``max_photos``, ``max_photo_size``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.networks.base import Network
from app.networks.counting import (
    MB,
    NAMES,
    MediaKind,
    MediaPolicy,
    check_media,
    limit,
    measured,
    text_length,
    urls,
    utf16_units,
    warning,
)
from app.networks.rules import Check, MediaFacts, Verdict

NETWORK = Network.tiktok
NAME = NAMES[NETWORK]
UNIT = "UTF-16 code units"
MAX_CHARACTERS = 2200  # video caption
MAX_TITLE = 90  # photo post title
MAX_DESCRIPTION = 4000  # photo post description
MAX_VIDEO_BYTES = 4 * 1024 * MB
MAX_VIDEO_SECONDS = 600
MAX_PHOTOS = 35
MAX_PHOTO_BYTES = 20 * MB

VIDEO = MediaKind(
    "video",
    "videos",
    frozenset({"video/mp4", "video/webm", "video/quicktime"}),
    max_bytes=MAX_VIDEO_BYTES,
    max_items=1,
    max_seconds=MAX_VIDEO_SECONDS,
)
PHOTO = MediaKind(
    "photo",
    "photos",
    frozenset({"image/jpeg", "image/webp"}),
    max_bytes=MAX_PHOTO_BYTES,
    max_items=MAX_PHOTOS,
)


def _policy(limits: dict[str, Any]) -> MediaPolicy:
    video = replace(
        VIDEO,
        max_bytes=limit(limits, ("max_video_size",), MAX_VIDEO_BYTES),
        max_seconds=limit(
            limits, ("max_video_post_duration_sec", "max_video_seconds"), MAX_VIDEO_SECONDS
        ),
    )
    photo = replace(
        PHOTO,
        max_bytes=limit(limits, ("max_photo_size",), MAX_PHOTO_BYTES),
        max_items=limit(limits, ("max_photos",), MAX_PHOTOS),
    )
    return MediaPolicy(
        kinds=(video, photo),
        mixing=False,
        required=True,
        accepted="MP4, WebM or MOV videos and JPEG or WebP photos",
        combos=f"one video or up to {photo.max_items:,} photos",
    )


def split_photo_copy(text: str) -> tuple[str, str]:
    """A photo post's (title, description): the first line and the rest, stripped."""
    first, _, rest = text.strip().partition("\n")
    return first.strip(), rest.strip()


def _is_photo_post(media: list[MediaFacts]) -> bool:
    return bool(media) and all(PHOTO.accepts(m.mime_type) for m in media)


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    verdicts: list[Verdict] = []
    if _is_photo_post(media):
        title, description = split_photo_copy(text)
        maximum = limit(limits, ("max_title_characters",), MAX_TITLE)
        count = utf16_units(title)
        verdicts += text_length(
            NETWORK,
            count=count,
            maximum=maximum,
            unit=UNIT,
            how="in a photo post's title (the copy's first line)",
        )
        max_description = limit(limits, ("max_description_characters",), MAX_DESCRIPTION)
        verdicts += text_length(
            NETWORK,
            count=utf16_units(description),
            maximum=max_description,
            unit=UNIT,
            how="in a photo post's description (the copy after its first line)",
        )
        unit = f"{UNIT} in the title"
    else:
        maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
        count = utf16_units(text)
        verdicts += text_length(
            NETWORK, count=count, maximum=maximum, unit=UNIT, how="in a video's caption"
        )
        unit = UNIT
    found = urls(text)
    if found:
        verdicts.append(
            warning(
                NETWORK,
                "text",
                f"{NAME} does not make links in a caption clickable; this copy has {len(found)}.",
                len(found),
                0,
            )
        )
    if link:
        verdicts.append(
            warning(
                NETWORK,
                "link",
                f"{NAME} cannot attach a link to a post; this copy has 1, "
                "which will not be published.",
                1,
                0,
            )
        )
    verdicts += check_media(NETWORK, media, _policy(limits))
    return measured(NETWORK, unit, count, maximum, verdicts)
