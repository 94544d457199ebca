"""Threads rules (platforms.md §7).

Text: 500 characters where each emoji counts as its number of UTF-8 bytes (so 😀 is 4,
a family ZWJ sequence 25); every other user-perceived character counts 1. Emoji are
recognised as X recognises them (``app.networks.x``). More than 5 links fails since
22 Dec 2025 (``THREADS_API__LINK_LIMIT_EXCEEDED``). Media: image, video or a carousel
of up to 20 items, images up to 8 MB, video up to 5 minutes and 1 GB (third-party
figures, unconfirmed). A post needs text or media.

Adapter (``graph.threads.net/v1.0``): a TEXT, IMAGE, VIDEO or CAROUSEL container
(images and videos fetched by Threads from ``MediaItem.public_url``), polled until
FINISHED, then ``threads_publish`` (:class:`app.networks.graph.ContainerAdapter`);
take-down is ``DELETE /{threads-media-id}`` (scope ``threads_delete``, 100 a day).
Credentials::

    {"threads_user_id": "<Threads user id>", "access_token": "<long-lived Threads token>"}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.networks.base import (
    MediaItem,
    Metrics,
    Network,
    OAuthApp,
    PermanentError,
    PublishRequest,
    TransientError,
)
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
from app.networks.graph import ContainerAdapter, call
from app.networks.rules import Check, MediaFacts
from app.networks.x import is_emoji
from app.oauth.tokens import expiry

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


THREADS_BASE = "https://graph.threads.net"
THREADS_VERSION = "v1.0"
INSIGHT_METRICS = ("views", "likes", "replies", "reposts", "quotes")


class ThreadsAdapter(ContainerAdapter):
    network = NETWORK
    version = THREADS_VERSION
    user_key = "threads_user_id"
    create_edge = "threads"
    publish_edge = "threads_publish"
    list_edge = "threads"
    text_field = "text"
    status_field = "status"
    error_field = "error_message"
    max_characters = MAX_CHARACTERS
    max_media = MEDIA.max_items

    def __init__(
        self,
        http: Any,
        *,
        api_base: str = THREADS_BASE,
        oauth: OAuthApp | None = None,
        **polling: float,
    ) -> None:
        super().__init__(http, api_base=api_base, oauth=oauth, **polling)

    def _text(self, request: PublishRequest) -> str:
        """The text to send: a separate link goes at the end of a post with media
        (``link_attachment`` exists only for text posts)."""
        if request.media and request.link and request.link not in request.text:
            return f"{request.text}\n\n{request.link}" if request.text else request.link
        return request.text

    def check_request(self, request: PublishRequest) -> None:
        text = self._text(request)
        if not text.strip() and not request.media:
            raise PermanentError("Threads needs text or media to publish", field="text")
        maximum = limit(request.limits, ("max_characters",), MAX_CHARACTERS)
        count = threads_length(text)
        if count > maximum:
            raise PermanentError(
                f"Threads allows {maximum} characters (each emoji counts as its UTF-8 "
                f"bytes); this text has {count}",
                field="text",
            )
        for item in request.media:
            self.public_url(item)

    def _item(self, item: MediaItem) -> dict[str, str]:
        url = self.public_url(item)
        if item.mime_type.startswith("video/"):
            params = {"media_type": "VIDEO", "video_url": url}
        else:
            params = {"media_type": "IMAGE", "image_url": url}
        if item.alt:
            params["alt_text"] = item.alt
        return params

    def single_params(self, request: PublishRequest) -> dict[str, str]:
        text = self._text(request)
        if request.media:
            params = self._item(request.media[0])
        else:
            params = {"media_type": "TEXT"}
            if request.link:
                params["link_attachment"] = request.link
        if text:
            params["text"] = text
        return params

    def child_params(self, item: MediaItem) -> dict[str, str]:
        return {**self._item(item), "is_carousel_item": "true"}

    def carousel_params(self, request: PublishRequest, children: list[str]) -> dict[str, str]:
        params = {"media_type": "CAROUSEL", "children": ",".join(children)}
        text = self._text(request)
        if text:
            params["text"] = text
        return params

    async def refresh_credentials(
        self, credentials: dict[str, Any]
    ) -> tuple[dict[str, Any], datetime | None]:
        """A long-lived token (60 days) renewed for another 60 with
        ``GET /refresh_access_token?grant_type=th_refresh_token``; it must be at least
        24 hours old and not yet expired (an expired one is code 190: reconnect)."""
        _, token = self._credentials(credentials)
        body = await call(
            self._http,
            "GET",
            f"{self._root}/refresh_access_token",
            params={"grant_type": "th_refresh_token"},
            network=self._name,
            token=token,
        )
        renewed = body.get("access_token")
        if not isinstance(renewed, str) or not renewed:
            raise TransientError("Threads answered the token refresh without an access token")
        return {**credentials, "access_token": renewed}, expiry(body.get("expires_in"))

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        _, token = self._credentials(credentials)
        body = await self._call("DELETE", external_id, token)
        if body.get("success") is not True:
            raise PermanentError(f"Threads did not confirm the deletion of post {external_id}")

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        _, token = self._credentials(credentials)
        body = await self._call(
            "GET",
            f"{external_id}/insights",
            token,
            params={"metric": ",".join(INSIGHT_METRICS)},
        )
        values = _insight_values(body)
        reposts = None
        if values.get("reposts") is not None or values.get("quotes") is not None:
            reposts = (values.get("reposts") or 0) + (values.get("quotes") or 0)
        return Metrics(
            likes=values.get("likes"),
            reposts=reposts,
            replies=values.get("replies"),
            views=values.get("views"),
        )


def _insight_values(body: dict[str, Any]) -> dict[str, int]:
    """``{"data": [{"name": "likes", "values": [{"value": 3}]}, ...]}`` (media insights;
    a ``total_value: {"value"}`` shape is read too) as ``{"likes": 3}``."""
    out: dict[str, int] = {}
    for metric in body.get("data") or []:
        if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
            continue
        value: Any = None
        values = metric.get("values")
        if isinstance(values, list) and values and isinstance(values[-1], dict):
            value = values[-1].get("value")
        total = metric.get("total_value")
        if value is None and isinstance(total, dict):
            value = total.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            out[metric["name"]] = value
    return out
