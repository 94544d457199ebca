"""Network rules: does this copy fit that network? One entry point for the API.

Each network module (``app/networks/<network>.py``) owns its counting and limits;
this module dispatches and defines the verdict types the posts API returns.
Limits come from the channel's verified values where the network exposes them
(e.g. a Mastodon instance's ``max_characters``), else from the network's defaults.

Keys read from ``limits`` (all optional, flat):

- every network: ``max_characters`` (the text limit, in the network's own unit) and
  ``max_media`` (attachments per post);
- Mastodon, as in ``/api/v2/instance`` ``configuration``: ``max_media_attachments``,
  ``characters_reserved_per_url``, ``image_size_limit``, ``video_size_limit``,
  ``supported_mime_types`` (list), ``description_limit``;
- Bluesky: ``max_bytes`` (text bytes), ``image_size_limit``, ``video_size_limit``;
- X: ``max_weighted_length`` (e.g. a Premium account's limit);
- Telegram: ``max_caption_characters``; Discord/Matrix: ``max_upload_size``.

Every verdict message is a sentence naming the network, the count and the limit.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.networks.base import Network


class Level(StrEnum):
    error = "error"  # the network would refuse it: saving is refused (422)
    warning = "warning"  # accepted, but a community manager wants to know


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What the rules need to know about one attached media file."""

    mime_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    video_codec: str | None = None
    alt: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    level: Level
    network: Network
    field: str  # "text", "media", "media[0].alt", "link"
    message: str  # a sentence naming the count and the limit
    count: int | None = None
    limit: int | None = None

    def as_error(self) -> dict[str, Any]:
        return {"field": self.field, "network": self.network.value, "message": self.message}


@dataclass(frozen=True, slots=True)
class Measure:
    """The length of a text in the network's own unit, for the editor's live counter."""

    network: Network
    unit: str  # "weighted characters", "graphemes", "characters", ...
    count: int
    limit: int


@dataclass(frozen=True, slots=True)
class Check:
    measure: Measure | None
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(v.level is Level.error for v in self.verdicts)


def check_content(
    network: Network,
    *,
    text: str,
    media: list[MediaFacts],
    link: str | None,
    limits: dict[str, Any] | None = None,
) -> Check:
    """Check one variant's publishable content against its network's rules.

    ``text`` is the copy as it will be published; ``link`` the variant's separate link
    (a card, an attachment), not counted in the text.
    """
    return _checker(network)(text=text or "", media=list(media), link=link, limits=limits or {})


@functools.cache
def _checker(network: Network) -> Callable[..., Check]:
    """The network module's ``check``, imported once (on first use: the modules import
    this one)."""
    return importlib.import_module(f"app.networks.{network.value}").check
