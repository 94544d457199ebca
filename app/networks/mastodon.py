"""Mastodon rules, per instance (``/api/v2/instance`` ``configuration``).

Length as Mastodon's ``StatusLengthValidator`` counts it: grapheme clusters of the
text after every ``http(s)://`` URL matched by ``FetchLinkCardService::URL_PATTERN``
(twitter-text's URL pattern with the protocol required, no further validation) is
replaced by ``characters_reserved_per_url`` characters, and every remote mention
``@user@domain`` by ``@user`` (``Account::MENTION_RE``). Spoiler text is not part of a
variant here. Defaults: 500 characters, URL 23, 4 attachments, images 16,777,216 B,
video 103,809,024 B, alt text (``description``) 1,500 characters, missing alt → warning.
A video or audio file goes alone (Mastodon refuses it beside other media).
"""

from __future__ import annotations

import re
from typing import Any

import regex

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
)
from app.networks.rules import Check, Level, MediaFacts

NETWORK = Network.mastodon
MAX_CHARACTERS = 500
URL_CHARACTERS = 23
MAX_ATTACHMENTS = 4
IMAGE_BYTES = 16_777_216
VIDEO_BYTES = 103_809_024
DESCRIPTION_LIMIT = 1500
DEFAULT_MIME_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/webp",
        "image/avif",
        "video/webm",
        "video/mp4",
        "video/quicktime",
        "video/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/x-pn-wave",
        "audio/vnd.wave",
        "audio/ogg",
        "audio/vorbis",
        "audio/mpeg",
        "audio/mp3",
        "audio/webm",
        "audio/flac",
        "audio/aac",
        "audio/m4a",
        "audio/x-m4a",
        "audio/mp4",
        "audio/3gpp",
        "video/x-ms-asf",
    }
)


def _url_pattern() -> re.Pattern[str]:
    # twitter-text's extraction pattern with the protocol group made mandatory, as in
    # Mastodon's FetchLinkCardService::URL_PATTERN.
    from twitter_text.regexp.extract_url import extract_url

    return re.compile(extract_url.pattern.replace(r"(https?:\/\/)?", r"(https?:\/\/)", 1), re.I)


_URL = _url_pattern()
_USERNAME = r"[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*"
_MENTION = regex.compile(
    rf"(?<![=/\w])@(({_USERNAME})(?:@\w+(?:[.-]+\w+)*)?)", regex.IGNORECASE | regex.V0
)


def countable_text(text: str, url_characters: int = URL_CHARACTERS) -> str:
    placeholder = "x" * url_characters
    text = _URL.sub(lambda m: m.group(2) + placeholder, text)
    return _MENTION.sub(lambda m: "@" + m.group(2), text)


def status_length(text: str, url_characters: int = URL_CHARACTERS) -> int:
    return grapheme_count(countable_text(text, url_characters))


def media_policy(limits: dict[str, Any]) -> MediaPolicy:
    supported = limits.get("supported_mime_types")
    types = (
        frozenset(t.lower() for t in supported if isinstance(t, str))
        if isinstance(supported, list | tuple) and supported
        else DEFAULT_MIME_TYPES
    )
    image = MediaKind(
        "image",
        "images",
        frozenset(t for t in types if t.startswith("image/")),
        max_bytes=limit(limits, ("image_size_limit",), IMAGE_BYTES),
        alt=True,
    )
    video = MediaKind(
        "video or audio file",
        "videos and audio files",
        frozenset(t for t in types if not t.startswith("image/")),
        max_bytes=limit(limits, ("video_size_limit",), VIDEO_BYTES),
        max_items=1,
        alt=True,
    )
    return MediaPolicy(
        kinds=(image, video),
        max_items=limit(limits, ("max_media_attachments", "max_media"), MAX_ATTACHMENTS),
        mixing=False,
        alt_missing=Level.warning,
        alt_max=limit(limits, ("description_limit",), DESCRIPTION_LIMIT),
        accepted="the image, video and audio types the instance lists",
        combos="images, or 1 video or audio file alone,",
    )


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    per_url = limit(limits, ("characters_reserved_per_url",), URL_CHARACTERS)
    count = status_length(text, per_url)
    verdicts = text_length(
        NETWORK,
        count=count,
        maximum=maximum,
        unit="characters",
        how=f"on this instance (a link counts {per_url})",
    )
    if not text.strip() and not media:
        verdicts.append(needs_content(NETWORK, "text or media"))
    verdicts += check_media(NETWORK, media, media_policy(limits))
    return measured(NETWORK, "characters", count, maximum, verdicts)
