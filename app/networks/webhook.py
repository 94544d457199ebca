"""Generic outbound webhook rules: generous. The receiver decides; Almanac only holds
the text to 100,000 characters (``max_characters`` overrides it) and the media count
to ``max_media`` when the channel sets one.
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
    text_length,
)
from app.networks.rules import Check, MediaFacts

NETWORK = Network.webhook
MAX_CHARACTERS = 100_000


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    count = len(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
    max_media = limit(limits, ("max_media",), 0) or None
    policy = MediaPolicy(
        kinds=(MediaKind("file", "files", prefix=""),), max_items=max_media, accepted="files"
    )
    verdicts += check_media(NETWORK, media, policy)
    return measured(NETWORK, "characters", count, maximum, verdicts)
