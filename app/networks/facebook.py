"""Facebook Page rules (Graph API, platforms.md §5; its figures are unconfirmed).

Message: 63,206 characters (code points). Photos: JPEG or PNG under 4 MB; several
photos go as one post (``attached_media``); a video goes alone through the Video API.
A post needs a message, a link or media.

Adapter (Graph API v25.0 with a Page access token): ``POST /{page-id}/feed`` for a
message and/or link; one photo through ``POST /{page-id}/photos`` (the photo's
story is the post); several photos uploaded unpublished (``published=false``, each id
checkpointed) then attached to one ``/feed`` post with ``attached_media``. Videos go
through the Video API, which Almanac does not use yet: refused with a message.
Credentials::

    {"page_id": "<Page id>", "page_access_token": "<Page access token>"}

Graph has no idempotency key, and a Page feed read back cannot tell our post from an
identical one, so a lost answer leaves the delivery ``uncertain``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from app.networks.base import (
    AccountInfo,
    Checkpoint,
    LookupUnsupported,
    MediaItem,
    Metrics,
    Network,
    OAuthApp,
    PermanentError,
    PublishRequest,
    PublishResult,
)
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
from app.networks.graph import call, id_of
from app.networks.http import read_media, required_credential, whole_number
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


GRAPH_BASE = "https://graph.facebook.com"
GRAPH_VERSION = "v25.0"
POST_URL = "https://www.facebook.com/{}"
METRIC_FIELDS = ",".join(
    (
        "reactions.summary(total_count).limit(0)",
        "comments.summary(total_count).limit(0)",
        "shares",
    )
)


class FacebookAdapter:
    network = NETWORK
    idempotency_window: timedelta | None = timedelta(0)  # Graph has no idempotency keys

    def __init__(
        self, http: httpx.AsyncClient, *, api_base: str = GRAPH_BASE, oauth: OAuthApp | None = None
    ) -> None:
        self._http = http
        # The Meta app's Graph base (ALMANAC_META_GRAPH_BASE) wins: tests point it here.
        root = oauth.api_base if oauth and oauth.api_base else api_base
        self._base = f"{root.rstrip('/')}/{GRAPH_VERSION}"

    def _credentials(self, credentials: dict[str, Any]) -> tuple[str, str]:
        return (
            required_credential(credentials, "page_id", "facebook"),
            required_credential(credentials, "page_access_token", "facebook"),
        )

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        return await call(
            self._http, method, f"{self._base}/{path}", network="facebook", token=token, **kwargs
        )

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        page, token = self._credentials(credentials)
        body = await self._call("GET", page, token, params={"fields": "id,name,username,link"})
        name = str(body.get("name") or page)
        return AccountInfo(
            handle=str(body.get("username") or name),
            display_name=name,
            limits={"max_characters": MAX_CHARACTERS},
        )

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        page, token = self._credentials(request.credentials)
        if any(item.mime_type.startswith("video/") for item in request.media):
            raise PermanentError(
                "Facebook videos go through the Video API, which Almanac does not use yet",
                field="media",
            )
        if not request.media:
            if not request.text.strip() and not request.link:
                raise PermanentError("Facebook needs a message, a link or media", field="text")
            fields = {"message": request.text} if request.text else {}
            if request.link:
                fields["link"] = request.link
            body = await self._call("POST", f"{page}/feed", token, data=fields)
            return self._result(id_of(body, "id", network="facebook", what="post"))
        message = self._message_with_link(request)
        if len(request.media) == 1:
            item = request.media[0]
            fields = self._photo_fields(item)
            if message:
                fields["caption"] = message
            body = await self._call(
                "POST", f"{page}/photos", token, data=fields, files=await _source(item)
            )
            # The photo's story is the post; its id is the one to delete and measure.
            post_id = body.get("post_id") or id_of(body, "id", network="facebook", what="photo")
            return self._result(str(post_id))
        photo_ids = [str(i) for i in request.checkpoint.get("photo_ids") or []]
        for item in request.media[len(photo_ids) :]:
            fields = {**self._photo_fields(item), "published": "false"}
            body = await self._call(
                "POST", f"{page}/photos", token, data=fields, files=await _source(item)
            )
            photo_ids.append(id_of(body, "id", network="facebook", what="photo"))
            await checkpoint({**request.checkpoint, "photo_ids": list(photo_ids)})
        fields = {"message": message} if message else {}
        for index, photo_id in enumerate(photo_ids):
            fields[f"attached_media[{index}]"] = json.dumps({"media_fbid": photo_id})
        body = await self._call("POST", f"{page}/feed", token, data=fields)
        return self._result(id_of(body, "id", network="facebook", what="post"))

    @staticmethod
    def _message_with_link(request: PublishRequest) -> str:
        """A photo post has no link field: the link goes at the end of the message."""
        if request.link and request.link not in request.text:
            return f"{request.text}\n\n{request.link}" if request.text else request.link
        return request.text

    @staticmethod
    def _photo_fields(item: MediaItem) -> dict[str, str]:
        return {"alt_text_custom": item.alt} if item.alt else {}

    @staticmethod
    def _result(post_id: str) -> PublishResult:
        return PublishResult(external_id=post_id, url=POST_URL.format(post_id))

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        _, token = self._credentials(credentials)
        body = await self._call("DELETE", external_id, token)
        if body.get("success") is not True:
            raise PermanentError(f"Facebook did not confirm the deletion of post {external_id}")

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        _, token = self._credentials(credentials)
        body = await self._call("GET", external_id, token, params={"fields": METRIC_FIELDS})
        shares = body.get("shares")
        return Metrics(
            likes=_total(body.get("reactions")),
            replies=_total(body.get("comments")),
            # ``shares`` is left out of the answer while nobody has shared the post.
            reposts=whole_number(shares.get("count")) if isinstance(shares, dict) else 0,
        )

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        raise LookupUnsupported(
            "Facebook has no idempotency key and a Page feed cannot tell this post from "
            "an identical one"
        )


async def _source(item: MediaItem) -> dict[str, tuple[str, bytes, str]]:
    data = await read_media(item, "facebook")
    return {"source": (Path(item.path).name, data, item.mime_type)}


def _total(edge: Any) -> int | None:
    summary = edge.get("summary") if isinstance(edge, dict) else None
    return whole_number(summary.get("total_count")) if isinstance(summary, dict) else None
