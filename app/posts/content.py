"""The publishable content of a variant and its hash.

Approval is of exact content: a variant is approved when its ``content_hash``
equals its ``approved_hash``. The hash covers what would be published (the
effective text, media with alt text, link), not the schedule, so moving a post
in time keeps its approval.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PublishableContent:
    text: str
    media: tuple[dict[str, Any], ...]
    link: str | None


def effective_content(
    *,
    base_text: str,
    base_media: list[dict[str, Any]],
    base_link: str | None,
    text: str | None,
    media: list[dict[str, Any]] | None,
    link: str | None,
) -> PublishableContent:
    """A variant without text/media/link of its own inherits the post's."""
    return PublishableContent(
        text=base_text if text is None else text,
        media=tuple(base_media if media is None else media),
        link=base_link if link is None else link,
    )


def content_hash(content: PublishableContent) -> str:
    canonical = json.dumps(
        {"text": content.text, "media": list(content.media), "link": content.link},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
