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

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import regex

from app.net.outbound import DestinationRefused, check_url_shape
from app.networks.base import (
    AccountInfo,
    Checkpoint,
    LookupUnsupported,
    MediaItem,
    Metrics,
    Network,
    PermanentError,
    PublishRequest,
    PublishResult,
    TransientError,
)
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
from app.networks.http import (
    iso_reset,
    json_or_empty,
    raise_for_status,
    rate_limited,
    read_media,
    required_credential,
    send,
    whole_number,
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


# -- adapter ------------------------------------------------------------------------
#
# Credentials: ``instance_url`` (https://mastodon.example, the account's instance)
# and ``access_token`` (a user token with ``read:accounts write:statuses write:media``).
# The instance is user-given: requests go through the process's guarded client.


IDEMPOTENCY_WINDOW = timedelta(hours=1)  # Mastodon keeps Idempotency-Key for an hour
MEDIA_POLL_INTERVAL = 1.0  # seconds between GET /api/v1/media/:id while it processes
MEDIA_POLL_TIMEOUT = 60.0  # then the attempt is transient; the checkpoint keeps the id


class MastodonAdapter:
    """Publishes statuses with ``Idempotency-Key`` = the delivery's key: a retry within
    the hour returns the status the first attempt created. Media go through
    ``POST /api/v2/media`` (202 → poll ``GET /api/v1/media/:id``); every uploaded id is
    checkpointed at once, so a retry attaches it instead of uploading again."""

    network = NETWORK
    idempotency_window: timedelta | None = IDEMPOTENCY_WINDOW

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        media_poll_interval: float = MEDIA_POLL_INTERVAL,
        media_poll_timeout: float = MEDIA_POLL_TIMEOUT,
    ) -> None:
        self._http = http
        self._poll_interval = media_poll_interval
        self._poll_timeout = media_poll_timeout

    # -- plumbing --

    async def _call(
        self, credentials: dict[str, Any], method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        base = _instance(credentials)
        token = required_credential(credentials, "access_token", "Mastodon")
        headers = {
            "Authorization": f"Bearer {token}",
            **kwargs.pop("headers", {}),
        }
        response = await send(
            self._http, method, f"{base}{path}", network="Mastodon", headers=headers, **kwargs
        )
        _raise_for_error(response)
        return response

    # -- the seam --

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        account = json_or_empty(
            await self._call(credentials, "GET", "/api/v1/accounts/verify_credentials")
        )
        if not isinstance(account, dict) or "username" not in account:
            raise PermanentError("Mastodon did not return the account (is this a Mastodon API?)")
        instance = json_or_empty(await self._call(credentials, "GET", "/api/v2/instance"))
        instance = instance if isinstance(instance, dict) else {}
        domain = instance.get("domain") or httpx.URL(_instance(credentials)).host
        return AccountInfo(
            handle=f"@{account['username']}@{domain}",
            display_name=str(account.get("display_name") or account["username"]),
            limits=instance_limits(instance),
        )

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        credentials = request.credentials
        required_credential(credentials, "access_token", "Mastodon")
        media_ids = await self._upload_media(request, checkpoint)
        body: dict[str, Any] = {"status": _status_text(request.text, request.link)}
        if media_ids:
            body["media_ids"] = media_ids
        response = await self._call(
            credentials,
            "POST",
            "/api/v1/statuses",
            json=body,
            headers={"Idempotency-Key": request.idempotency_key},
        )
        status = json_or_empty(response)
        if not isinstance(status, dict) or not status.get("id"):
            raise TransientError("Mastodon accepted the status but returned no id")
        return PublishResult(external_id=str(status["id"]), url=status.get("url"))

    async def _upload_media(self, request: PublishRequest, checkpoint: Checkpoint) -> list[str]:
        """One media id per item, in order: reused from the checkpoint, else uploaded
        (and checkpointed before the next step)."""
        done = request.checkpoint.get("media_ids")
        media_ids: list[str] = [str(i) for i in done] if isinstance(done, list) else []
        media_ids = media_ids[: len(request.media)]
        for index, item in enumerate(request.media):
            if index < len(media_ids):
                await self._wait_processed(request.credentials, media_ids[index])
                continue
            media_id, processing = await self._upload(request.credentials, item)
            media_ids.append(media_id)
            await checkpoint({"media_ids": list(media_ids)})
            if processing:
                await self._wait_processed(request.credentials, media_id)
        return media_ids

    async def _upload(self, credentials: dict[str, Any], item: MediaItem) -> tuple[str, bool]:
        content = await read_media(item, "Mastodon")
        data = {"description": item.alt} if item.alt else {}
        response = await self._call(
            credentials,
            "POST",
            "/api/v2/media",
            files={"file": (Path(item.path).name, content, item.mime_type)},
            data=data,
        )
        attachment = json_or_empty(response)
        if not isinstance(attachment, dict) or not attachment.get("id"):
            raise TransientError("Mastodon accepted the media but returned no id")
        # 202: accepted, still processing (url null); 200: ready.
        return str(attachment["id"]), response.status_code == 202

    async def _wait_processed(self, credentials: dict[str, Any], media_id: str) -> None:
        deadline = asyncio.get_running_loop().time() + self._poll_timeout
        while True:
            response = await self._call(credentials, "GET", f"/api/v1/media/{media_id}")
            if response.status_code == 200:
                return
            # 206 Partial Content: still processing.
            if asyncio.get_running_loop().time() >= deadline:
                raise TransientError(
                    f"Mastodon is still processing media {media_id}; trying again later"
                )
            await asyncio.sleep(self._poll_interval)

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        try:
            await self._call(credentials, "DELETE", f"/api/v1/statuses/{_id(external_id)}")
        except MastodonError as error:
            # Already deleted (by hand, or by an earlier attempt whose answer was lost).
            if error.status == 404:
                return
            raise

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        status = json_or_empty(
            await self._call(credentials, "GET", f"/api/v1/statuses/{_id(external_id)}")
        )
        status = status if isinstance(status, dict) else {}
        return Metrics(
            likes=whole_number(status.get("favourites_count")),
            reposts=whole_number(status.get("reblogs_count")),
            replies=whole_number(status.get("replies_count")),
            views=None,  # Mastodon has no impressions
        )

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        # No search by idempotency key; the one-hour key window covers retries.
        raise LookupUnsupported("Mastodon cannot look a status up by its idempotency key")


def instance_limits(instance: dict[str, Any]) -> dict[str, Any]:
    """``/api/v2/instance`` ``configuration`` as the flat keys of app.networks.rules."""
    configuration = instance.get("configuration")
    if not isinstance(configuration, dict):
        return {}
    statuses = configuration.get("statuses") or {}
    media = configuration.get("media_attachments") or {}
    limits: dict[str, Any] = {}
    for source, key, target in (
        (statuses, "max_characters", "max_characters"),
        (statuses, "max_media_attachments", "max_media_attachments"),
        (statuses, "max_media_attachments", "max_media"),
        (statuses, "characters_reserved_per_url", "characters_reserved_per_url"),
        (media, "image_size_limit", "image_size_limit"),
        (media, "video_size_limit", "video_size_limit"),
        (media, "description_limit", "description_limit"),
    ):
        value = source.get(key) if isinstance(source, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            limits[target] = value
    types = media.get("supported_mime_types") if isinstance(media, dict) else None
    if isinstance(types, list) and types:
        limits["supported_mime_types"] = [t for t in types if isinstance(t, str)]
    return limits


class MastodonError(PermanentError):
    """A refusal from Mastodon; ``status`` is the HTTP status it came with."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def _raise_for_error(response: httpx.Response) -> None:
    """Mastodon's ``{"error": ..., "error_description"?}`` bodies, mapped by status;
    the rate-limit reset is ``X-RateLimit-Reset``, an ISO 8601 instant."""
    status = response.status_code
    if status < 400:
        return
    body = json_or_empty(response)
    words = ""
    if isinstance(body, dict):
        words = str(body.get("error") or "")
        if body.get("error_description"):
            words = f"{words}: {body['error_description']}" if words else body["error_description"]
    message = f"Mastodon: {words}" if words else ""
    if status == 429:
        raise rate_limited("Mastodon", iso_reset(response.headers.get("x-ratelimit-reset")), words)
    if status < 500 and status not in (401, 408, 425):
        # 422 validation, 403 not allowed, 404 gone: Mastodon's words, the status kept.
        raise MastodonError(message or f"Mastodon answered HTTP {status}", status=status)
    # 401: the token was revoked (Mastodon tokens do not expire); 5xx / 408: transient.
    raise_for_status(response, network="Mastodon", message=message)


def _status_text(text: str, link: str | None) -> str:
    """Links are plain text on Mastodon (the server builds the preview card)."""
    if link and link not in text:
        return f"{text}\n\n{link}" if text.strip() else link
    return text


def _instance(credentials: dict[str, Any]) -> str:
    try:
        url = check_url_shape(required_credential(credentials, "instance_url", "Mastodon"))
    except DestinationRefused as refused:
        raise PermanentError(f"instance_url: {refused.message}", field="instance_url") from None
    return str(url).rstrip("/")


def _id(external_id: str) -> str:
    # Status ids are numeric strings (snowflakes); refuse anything that would change the path.
    if not external_id.isascii() or not external_id.isalnum():
        raise PermanentError(f"{external_id!r} is not a Mastodon status id")
    return external_id
