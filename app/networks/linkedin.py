"""LinkedIn rules (Posts API, platforms.md §4).

Commentary: 3,000 characters (the common assumption; the API documents no limit, so
unconfirmed), counted in Unicode code points. Content: one media (image, video or
document) or a multi-image post of 2–20 images; kinds do not mix. Sizes are not
documented, so not checked. A post needs commentary, media or an article link.

Adapter (Posts API, platforms.md §4): ``POST /rest/posts`` with ``LinkedIn-Version``
and ``X-Restli-Protocol-Version: 2.0.0``; the post's URN comes back in the
``x-restli-id`` header. Commentary is "little" text: the reserved characters are
backslash-escaped (:func:`little_text`), so a copy reads as written. Images:
``POST /rest/images?action=initializeUpload`` then PUT the bytes to the upload URL
(the image URN is checkpointed once uploaded). ``DELETE /rest/posts/{urn}``; the
account from ``GET /v2/userinfo`` (OpenID Connect). Metrics: likes and comments from
``GET /rest/socialActions/{urn}`` (impressions exist only for organisation posts;
member-post analytics are unconfirmed). Errors: ``{status, serviceErrorCode,
message}``; 429 signals the daily limits, which reset at midnight UTC (no headers).
Videos and documents (``/rest/videos``, ``/rest/documents``) are not uploaded yet:
such a post is refused with a sentence saying so.

Credentials::

    access_token   required: the member's OAuth 2.0 token (60 days)
    author         the URN posted as (urn:li:person:… or urn:li:organization:…);
                   when missing, the member's own, read from /v2/userinfo
    refresh_token  only for apps LinkedIn approved for programmatic refresh

Idempotency: none; a post whose answer was lost is left to a person
(LookupUnsupported), as LinkedIn offers no lookup by anything we choose.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

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
    TransientError,
)
from app.networks.counting import (
    MediaKind,
    MediaPolicy,
    check_media,
    limit,
    measured,
    needs_content,
    text_length,
)
from app.networks.http import (
    json_or_empty,
    raise_for_status,
    rate_limited,
    read_media,
    required_credential,
    retry_after,
    send,
)
from app.networks.rules import Check, MediaFacts
from app.oauth.tokens import refresh

NETWORK = Network.linkedin
MAX_CHARACTERS = 3000
MEDIA = MediaPolicy(
    kinds=(
        MediaKind("image", "images", prefix="image/", max_items=20),
        MediaKind("video", "videos", prefix="video/", max_items=1),
        MediaKind(
            "document",
            "documents",
            frozenset(
                {
                    "application/pdf",
                    "application/vnd.ms-powerpoint",
                    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                    "application/msword",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                }
            ),
            max_items=1,
        ),
    ),
    mixing=False,
    accepted="images, videos and PDF, PowerPoint or Word documents",
    combos="1 video, or 1 document, or up to 20 images",
)


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    count = len(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
    if not text.strip() and not media and not link:
        verdicts.append(needs_content(NETWORK, "text, media or a link"))
    verdicts += check_media(NETWORK, media, MEDIA)
    return measured(NETWORK, "characters", count, maximum, verdicts)


# -- adapter ------------------------------------------------------------------------------

API_BASE = "https://api.linkedin.com"
TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"
SETTINGS_PREFIX = "ALMANAC_LINKEDIN_"
# The Posts API version (YYYYMM); LinkedIn supports each version for a year.
LINKEDIN_VERSION = "202610"
# "little" text format: these characters are markup unless escaped with a backslash.
RESERVED = frozenset("\\|{}@[]()<>#*_~")


def little_text(text: str) -> str:
    """``text`` as plain "little" commentary: every reserved character escaped (an
    unescaped one can make LinkedIn cut the text short)."""
    return "".join("\\" + char if char in RESERVED else char for char in text)


def error_message(body: Any) -> str:
    """The words of a LinkedIn error body ``{status, serviceErrorCode, message}``."""
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_description") or "")
    return ""


def _next_midnight_utc() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def _check(response: httpx.Response, doing: str) -> None:
    if response.status_code < 400:
        return
    words = error_message(json_or_empty(response))
    if response.status_code == 429:
        # Daily application and member limits reset at midnight UTC (rate-limits guide).
        reset = retry_after(response.headers) or _next_midnight_utc()
        raise rate_limited("LinkedIn", reset, words)
    message = f"LinkedIn refused to {doing}: {words}" if words else ""
    raise_for_status(response, network="LinkedIn", message=message)


class LinkedInAdapter:
    network = Network.linkedin
    # LinkedIn honours no idempotency key.
    idempotency_window: timedelta | None = timedelta(0)

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_base: str = API_BASE,
        oauth: OAuthApp | None = None,
        version: str = LINKEDIN_VERSION,
    ) -> None:
        self._http = http
        self._api = (oauth.api_base if oauth and oauth.api_base else api_base).rstrip("/")
        self._oauth = oauth
        self._version = version

    # -- plumbing -----------------------------------------------------------------------

    def _headers(self, credentials: dict[str, Any]) -> dict[str, str]:
        token = required_credential(credentials, "access_token", "LinkedIn")
        return {
            "authorization": f"Bearer {token}",
            "linkedin-version": self._version,
            "x-restli-protocol-version": "2.0.0",
        }

    async def _call(
        self, method: str, url: str, credentials: dict[str, Any], doing: str, **kwargs: Any
    ) -> httpx.Response:
        headers = {**self._headers(credentials), **kwargs.pop("headers", {})}
        if url.startswith("/"):
            url = self._api + url
        response = await send(
            self._http, method, url, network="LinkedIn", headers=headers, **kwargs
        )
        _check(response, doing)
        return response

    async def _userinfo(self, credentials: dict[str, Any]) -> dict[str, Any]:
        response = await self._call("GET", "/v2/userinfo", credentials, "read the account")
        info = json_or_empty(response)
        if not isinstance(info, dict) or not info.get("sub"):
            raise PermanentError("LinkedIn answered without the account (no 'sub')")
        return info

    async def _author(self, credentials: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """The URN to post as, and the credentials to store when it had to be looked up."""
        author = credentials.get("author")
        if isinstance(author, str) and author.startswith("urn:li:"):
            return author, None
        if author:
            raise PermanentError(
                "LinkedIn 'author' must be a URN (urn:li:person:… or urn:li:organization:…)",
                field="author",
            )
        info = await self._userinfo(credentials)
        author = f"urn:li:person:{info['sub']}"
        return author, {**credentials, "author": author}

    # -- the seam -------------------------------------------------------------------------

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        info = await self._userinfo(credentials)
        name = str(info.get("name") or "")
        refreshed = None
        if not credentials.get("author"):
            refreshed = {**credentials, "author": f"urn:li:person:{info['sub']}"}
        return AccountInfo(
            handle=str(info.get("email") or name or info["sub"]),
            display_name=name,
            refreshed_credentials=refreshed,
        )

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        credentials = request.credentials
        self._headers(credentials)
        author, refreshed = await self._author(credentials)
        body: dict[str, Any] = {
            "author": author,
            "commentary": little_text(request.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        images = await self._upload_images(request, author, credentials, checkpoint)
        if len(images) == 1:
            body["content"] = {"media": images[0]}
        elif images:
            body["content"] = {"multiImage": {"images": images}}
        elif request.link:
            body["content"] = {"article": {"source": request.link, "title": request.link}}
        response = await self._call(
            "POST", "/rest/posts", credentials, "publish the post", json=body
        )
        urn = response.headers.get("x-restli-id", "")
        if not urn.startswith("urn:li:"):
            raise PermanentError(
                f"LinkedIn answered {response.status_code} without the post's id (x-restli-id)"
            )
        return PublishResult(
            external_id=urn,
            url=f"https://www.linkedin.com/feed/update/{urn}",
            refreshed_credentials=refreshed,
        )

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        raise LookupUnsupported(
            "LinkedIn keeps no idempotency key and offers no lookup by one, so whether a "
            "post whose answer was lost exists cannot be checked safely; look at the "
            "account and mark the delivery published or retry it"
        )

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        headers = self._headers(credentials)
        response = await send(
            self._http,
            "DELETE",
            f"{self._api}/rest/posts/{_encoded(external_id)}",
            network="LinkedIn",
            headers=headers,
        )
        if response.status_code == 404:
            return  # already gone: what a take-down wants
        _check(response, "delete the post")

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        response = await self._call(
            "GET",
            f"/rest/socialActions/{_encoded(external_id)}",
            credentials,
            "read the post's reactions",
        )
        body = json_or_empty(response)
        likes = (body.get("likesSummary") or {}).get("totalLikes")
        comments = (body.get("commentsSummary") or {}).get("aggregatedTotalComments")
        return Metrics(
            likes=likes if isinstance(likes, int) else None,
            replies=comments if isinstance(comments, int) else None,
        )

    async def refresh_credentials(
        self, credentials: dict[str, Any]
    ) -> tuple[dict[str, Any], datetime | None]:
        """``refresh_token`` grant at LinkedIn's token endpoint, for apps approved for
        programmatic refresh (the refresh token lives 365 days and is not renewed)."""
        return await refresh(
            self._http,
            self._oauth,
            credentials,
            network="LinkedIn",
            settings_prefix=SETTINGS_PREFIX,
            default_token_url=TOKEN_URL,
        )

    # -- images -------------------------------------------------------------------------------

    async def _upload_images(
        self,
        request: PublishRequest,
        author: str,
        credentials: dict[str, Any],
        checkpoint: Checkpoint,
    ) -> list[dict[str, Any]]:
        state: dict[str, Any] = dict(request.checkpoint)
        done: dict[str, str] = dict(state.get("linkedin_images") or {})
        images = []
        for index, item in enumerate(request.media):
            if not item.mime_type.startswith("image/"):
                raise PermanentError(
                    "Almanac does not upload LinkedIn videos or documents yet; "
                    "attach images, or post this one by hand",
                    field="media",
                )
            urn = done.get(str(index))
            if urn is None:
                urn = await self._upload_image(item, author, credentials)
                done[str(index)] = urn
                state["linkedin_images"] = dict(done)
                await checkpoint(dict(state))
            image: dict[str, Any] = {"id": urn}
            if item.alt:
                image["altText"] = item.alt
            images.append(image)
        return images

    async def _upload_image(self, item: MediaItem, author: str, credentials: dict[str, Any]) -> str:
        response = await self._call(
            "POST",
            "/rest/images",
            credentials,
            "start the image upload",
            params={"action": "initializeUpload"},
            json={"initializeUploadRequest": {"owner": author}},
        )
        value = json_or_empty(response).get("value") or {}
        upload_url, urn = value.get("uploadUrl"), value.get("image")
        if not isinstance(upload_url, str) or not isinstance(urn, str):
            raise TransientError("LinkedIn answered the image upload without its URL or URN")
        content = await read_media(item, "LinkedIn")
        await self._call(
            "PUT",
            upload_url,
            credentials,
            "take the image",
            content=content,
            headers={"content-type": "application/octet-stream"},
        )
        return urn


def _encoded(urn: str) -> str:
    if not urn.startswith("urn:li:"):
        raise PermanentError(f"{urn!r} is not a LinkedIn post URN")
    return quote(urn, safe="")
