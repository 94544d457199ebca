"""YouTube rules (Data API v3 ``videos.insert``, platforms.md §9).

A YouTube post is **one video**, required; nothing else can be attached (a
thumbnail is a separate call, not a post's media).

The copy is split into ``snippet.title`` and ``snippet.description``: its **first
line is the title**, the rest the description (both stripped); see
:func:`split_copy`, which the adapter must use too. YouTube requires a title, so an
empty first line is an error.

- Title: up to 100 characters (counted as code points).
- Description: up to 5,000 **bytes** (UTF-8), so an emoji counts 4.
- Neither may contain ``<`` or ``>``.
- Video: any ``video/*`` type, up to 256 GB. platforms.md gives no duration limit;
  a channel's ``limits`` may set one (``max_video_seconds``, e.g. 900 for an
  unverified account's 15 minutes).
- YouTube cannot attach a link card: a separate link is a warning (put it in the
  description). Hashtags and links in the description are plain text.

Confirmed in platforms.md from Google's docs: 100-character title, 5,000-byte
description, no ``<``/``>``, 256 GB, ``video/*``. **Unconfirmed**: whether the
title's "characters" are code points (ours), UTF-16 units or graphemes — they agree
outside astral-plane characters such as emoji. Unverified API projects can only
upload private videos (a publishing matter, not a content rule).

``limits`` keys (all optional): ``max_characters`` (title), ``max_description_bytes``,
``max_video_size``, ``max_video_seconds``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.networks.base import Network
from app.networks.counting import (
    NAMES,
    MediaKind,
    MediaPolicy,
    check_media,
    error,
    limit,
    measured,
    text_length,
    utf8_bytes,
    warning,
)
from app.networks.rules import Check, MediaFacts, Verdict

NETWORK = Network.youtube
NAME = NAMES[NETWORK]
MAX_TITLE = 100
MAX_DESCRIPTION_BYTES = 5000
MAX_VIDEO_BYTES = 256 * 1024**3
FORBIDDEN = "<>"

VIDEO = MediaKind("video", "videos", prefix="video/", max_bytes=MAX_VIDEO_BYTES, max_items=1)


def split_copy(text: str) -> tuple[str, str]:
    """The video's (title, description): the copy's first line and the rest, stripped."""
    first, _, rest = text.strip().partition("\n")
    return first.strip(), rest.strip()


def _policy(limits: dict[str, Any]) -> MediaPolicy:
    seconds = limit(limits, ("max_video_seconds",), 0)
    video = replace(
        VIDEO,
        max_bytes=limit(limits, ("max_video_size",), MAX_VIDEO_BYTES),
        max_seconds=seconds or None,
    )
    return MediaPolicy(kinds=(video,), required=True, accepted="videos only")


def _forbidden(part: str, what: str, field: str) -> list[Verdict]:
    n = sum(part.count(c) for c in FORBIDDEN)
    if not n:
        return []
    return [
        error(
            NETWORK,
            field,
            f"{NAME} allows no < or > in a video's {what}; this copy's {what} has {n}.",
            n,
            0,
        )
    ]


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    title, description = split_copy(text)
    maximum = limit(limits, ("max_characters",), MAX_TITLE)
    count = len(title)
    verdicts: list[Verdict] = []
    if not title:
        verdicts.append(
            error(
                NETWORK,
                "text",
                f"{NAME} needs a title (the copy's first line); this copy has none.",
                0,
                1,
            )
        )
    verdicts += text_length(
        NETWORK,
        count=count,
        maximum=maximum,
        unit="characters",
        how="in a title (the copy's first line)",
    )
    max_bytes = limit(limits, ("max_description_bytes",), MAX_DESCRIPTION_BYTES)
    verdicts += text_length(
        NETWORK,
        count=utf8_bytes(description),
        maximum=max_bytes,
        unit="bytes (UTF-8)",
        how="in a description (the copy after its first line)",
    )
    verdicts += _forbidden(title, "title", "text")
    verdicts += _forbidden(description, "description", "text")
    if link:
        verdicts.append(
            warning(
                NETWORK,
                "link",
                f"{NAME} cannot attach a link to a video; this copy has 1, which will not be "
                "published (put it in the description instead).",
                1,
                0,
            )
        )
    verdicts += check_media(NETWORK, media, _policy(limits))
    return measured(NETWORK, "characters in the title", count, maximum, verdicts)
