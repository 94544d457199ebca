"""Telegram Bot API rules (platforms.md §10).

``sendMessage`` text: 1–4,096 characters; with media the text becomes a caption of
0–1,024 characters. Telegram measures entities in UTF-16 code units, so this counts
UTF-16 code units too (an emoji outside the BMP counts 2): never more lenient than
Telegram. Photos: up to 10 MB, width + height ≤ 10,000, aspect ratio ≤ 20; other files
(videos, GIFs, documents) up to 50 MB (unconfirmed); an album holds 2–10 items
(unconfirmed).

Adapter (Bot API over HTTPS). Credentials: ``bot_token`` (from @BotFather) and
``chat_id`` (a channel's ``@username`` or a numeric chat id; the bot must be an
administrator of a channel with the right to post). The token is part of every URL
(``/bot<token>/<method>``), so no URL is ever put in a message; ``app.networks.http``
redacts httpx's own request lines.

- One text: ``sendMessage`` (plain text, no parse mode, so nothing is read as markup);
  one file: ``sendPhoto``/``sendAnimation``/``sendVideo``/``sendDocument`` with the
  text as caption; several: ``sendMediaGroup`` (an album; photos and videos mix,
  other files go as an album of documents). Telegram has no alt text: a media item's
  ``alt`` is not sent anywhere.
- A link not already in the text is appended on its own line; a text message also
  asks for its preview card.
- External id ``<chat id>:<message id>`` (an album: ``<chat id>:<id>,<id>,...``);
  URL ``https://t.me/<username>/<message id>`` for a public chat,
  ``https://t.me/c/<id>/<message id>`` for a private channel or supergroup (members only).
- No idempotency key and no way to look a message up: a lost answer makes the
  delivery ``uncertain``.
- Take-down: ``deleteMessage`` (``deleteMessages`` for an album). Telegram lets a bot
  delete a message only within 48 hours of sending it.
- Metrics: the Bot API gives none (not even a channel post's views).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.networks.base import (
    AccountInfo,
    Checkpoint,
    CredentialsExpiredError,
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
    MB,
    MediaKind,
    MediaPolicy,
    check_media,
    error,
    limit,
    measured,
    needs_content,
    text_length,
    utf16_units,
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
from app.networks.rules import Check, MediaFacts, Verdict

NETWORK = Network.telegram
MAX_TEXT = 4096
MAX_CAPTION = 1024
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MEDIA = MediaPolicy(
    kinds=(
        MediaKind("photo", "photos", PHOTO_TYPES, max_bytes=10 * MB),
        MediaKind("file", "files", prefix="", max_bytes=50 * MB),
    ),
    max_items=10,
    accepted="photos and files",
)


def _photo_dimensions(media: list[MediaFacts]) -> list[Verdict]:
    out = []
    for i, item in enumerate(media):
        if item.mime_type.lower() not in PHOTO_TYPES or not item.width or not item.height:
            continue
        w, h = item.width, item.height
        if w + h > 10_000:
            out.append(
                error(
                    NETWORK,
                    f"media[{i}]",
                    f"Telegram allows photos whose width and height add up to 10,000 pixels; "
                    f"media {i + 1} adds up to {w + h:,}.",
                    w + h,
                    10_000,
                )
            )
        if max(w, h) / min(w, h) > 20:
            out.append(
                error(
                    NETWORK,
                    f"media[{i}]",
                    f"Telegram allows photos with an aspect ratio up to 20; media {i + 1} is "
                    f"{w}×{h} ({max(w, h) / min(w, h):.1f}).",
                )
            )
    return out


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    count = utf16_units(text)
    if media:
        maximum = limit(limits, ("max_caption_characters",), MAX_CAPTION)
        verdicts = text_length(
            NETWORK, count=count, maximum=maximum, unit="characters", how="in a media caption"
        )
        unit = "caption characters"
    else:
        maximum = limit(limits, ("max_characters",), MAX_TEXT)
        verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
        unit = "characters"
        if not text.strip():
            verdicts.append(needs_content(NETWORK, "text or media"))
    verdicts += check_media(NETWORK, media, MEDIA)
    verdicts += _photo_dimensions(media)
    return measured(NETWORK, unit, count, maximum, verdicts)


# -- adapter ------------------------------------------------------------------------

API_BASE = "https://api.telegram.org"
NAME = "Telegram"
# Per file kind: the Bot API method that sends one such file, and its file field.
_SENDERS = {
    "photo": ("sendPhoto", "photo"),
    "animation": ("sendAnimation", "animation"),
    "video": ("sendVideo", "video"),
    "document": ("sendDocument", "document"),
}
# Telegram's words for a message that is already gone (deleted by hand).
_ALREADY_DELETED = ("message to delete not found",)
_TOO_OLD = ("message can't be deleted",)


def _kind(item: MediaItem) -> str:
    mime = item.mime_type.lower()
    if mime in PHOTO_TYPES:
        return "photo"
    if mime == "image/gif":
        return "animation"
    if mime.startswith("video/"):
        return "video"
    return "document"


def _with_link(text: str, link: str | None, maximum: int) -> tuple[str, bool]:
    """The text with the link on its own line when it is not in it yet; False when
    it does not fit within ``maximum`` UTF-16 units (the text is then unchanged)."""
    if not link or link in text:
        return text, True
    joined = f"{text.rstrip()}\n\n{link}" if text.strip() else link
    if utf16_units(joined) > maximum:
        return text, False
    return joined, True


def _message_url(chat: dict[str, Any], message_id: int) -> str | None:
    username = chat.get("username")
    if username:
        return f"https://t.me/{username}/{message_id}"
    chat_id = str(chat.get("id", ""))
    if chat_id.startswith("-100"):  # a channel or supergroup: members-only link
        return f"https://t.me/c/{chat_id[4:]}/{message_id}"
    return None


def _parse_external_id(external_id: str) -> tuple[str, list[int]]:
    chat_id, _, ids = external_id.partition(":")
    try:
        message_ids = [int(part) for part in ids.split(",")]
    except ValueError:
        message_ids = []
    if not chat_id or not message_ids:
        raise PermanentError(f"{NAME}: {external_id!r} is not a Telegram message id")
    return chat_id, message_ids


class TelegramAdapter:
    network = Network.telegram
    # The Bot API has no idempotency key: a message sent twice is two messages.
    idempotency_window: timedelta | None = timedelta(0)

    def __init__(self, http: httpx.AsyncClient, *, api_base: str = API_BASE) -> None:
        self._http = http
        self._api_base = api_base.rstrip("/")

    async def _call(
        self, credentials: dict[str, Any], method: str, *, what: str = "", **kwargs: Any
    ) -> Any:
        """One Bot API call; the ``result`` of ``{ok: true}``, else a typed error."""
        token = required_credential(credentials, "bot_token", NAME)
        url = f"{self._api_base}/bot{token}/{method}"
        response = await send(self._http, "POST", url, network=NAME, **kwargs)
        return _result(response, what or method)

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        chat_id = required_credential(credentials, "chat_id", NAME)
        bot = await self._call(credentials, "getMe")
        chat = await self._call(credentials, "getChat", json={"chat_id": chat_id})
        if chat.get("type") == "channel":
            member = await self._call(
                credentials, "getChatMember", json={"chat_id": chat_id, "user_id": bot["id"]}
            )
            can_post = member.get("status") == "creator" or (
                member.get("status") == "administrator" and member.get("can_post_messages")
            )
            if not can_post:
                raise PermanentError(
                    f"{NAME}: the bot @{bot.get('username', '')} cannot post in this channel; "
                    "make it an administrator allowed to post messages",
                    field="chat_id",
                )
        username = chat.get("username")
        handle = f"@{username}" if username else str(chat.get("title") or chat.get("id"))
        return AccountInfo(handle=handle, display_name=str(chat.get("title") or handle))

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        chat_id = required_credential(request.credentials, "chat_id", NAME)
        if not request.media:
            messages = [await self._send_text(request, chat_id)]
        elif len(request.media) == 1:
            messages = [await self._send_file(request, chat_id, request.media[0])]
        else:
            messages = await self._send_album(request, chat_id)
        chat = messages[0].get("chat", {})
        first = int(messages[0]["message_id"])
        ids = ",".join(str(m["message_id"]) for m in messages)
        return PublishResult(
            external_id=f"{chat.get('id', chat_id)}:{ids}", url=_message_url(chat, first)
        )

    async def _send_text(self, request: PublishRequest, chat_id: str) -> dict[str, Any]:
        maximum = limit(request.limits, ("max_characters",), MAX_TEXT)
        text, _ = _with_link(request.text, request.link, maximum)
        body: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if request.link:
            # The preview card shows the link even when it did not fit in the text.
            body["link_preview_options"] = {"url": request.link}
        return await self._call(request.credentials, "sendMessage", what="the message", json=body)

    def _caption(self, request: PublishRequest) -> str:
        maximum = limit(request.limits, ("max_caption_characters",), MAX_CAPTION)
        caption, fits = _with_link(request.text, request.link, maximum)
        if not fits:
            raise PermanentError(
                f"{NAME}: the link does not fit in the caption ({maximum:,} characters "
                "with media); shorten the text or put the link in it",
                field="link",
            )
        return caption

    async def _send_file(
        self, request: PublishRequest, chat_id: str, item: MediaItem
    ) -> dict[str, Any]:
        method, field = _SENDERS[_kind(item)]
        data = {"chat_id": chat_id, "caption": self._caption(request)}
        files = {field: (Path(item.path).name, await read_media(item, NAME), item.mime_type)}
        return await self._call(
            request.credentials, method, what="the media", data=data, files=files
        )

    async def _send_album(self, request: PublishRequest, chat_id: str) -> list[dict[str, Any]]:
        kinds = [_kind(item) for item in request.media]
        # Photos and videos mix in an album; anything else makes it an album of documents.
        if not all(kind in ("photo", "video") for kind in kinds):
            kinds = ["document"] * len(kinds)
        caption = self._caption(request)
        media: list[dict[str, Any]] = []
        files: dict[str, tuple[str, bytes, str]] = {}
        for i, (item, kind) in enumerate(zip(request.media, kinds, strict=True)):
            name = f"file{i}"
            files[name] = (Path(item.path).name, await read_media(item, NAME), item.mime_type)
            entry: dict[str, Any] = {"type": kind, "media": f"attach://{name}"}
            if i == 0 and caption:
                entry["caption"] = caption  # the album's caption is its first item's
            media.append(entry)
        data = {"chat_id": chat_id, "media": json.dumps(media)}
        return await self._call(
            request.credentials, "sendMediaGroup", what="the album", data=data, files=files
        )

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        chat_id, message_ids = _parse_external_id(external_id)
        if len(message_ids) == 1:
            method, body = "deleteMessage", {"chat_id": chat_id, "message_id": message_ids[0]}
        else:
            method, body = "deleteMessages", {"chat_id": chat_id, "message_ids": message_ids}
        try:
            await self._call(credentials, method, what="the take-down", json=body)
        except PermanentError as refused:
            words = refused.message.lower()
            if any(phrase in words for phrase in _ALREADY_DELETED):
                return  # deleted by hand already: the post is down
            if any(phrase in words for phrase in _TOO_OLD):
                raise PermanentError(
                    f"{NAME} refused to delete the message ({refused.message}); a bot may "
                    "delete its messages only within 48 hours: delete it in the Telegram app"
                ) from None
            raise

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        # The Bot API exposes no counts for a message, channel views included.
        return Metrics()

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        raise LookupUnsupported(f"{NAME}: a bot cannot look up the messages it sent")


def _result(response: httpx.Response, what: str) -> Any:
    """Telegram's envelope: ``{ok: true, result}`` or ``{ok: false, error_code,
    description, parameters?}`` (platforms.md §10), mapped to the seam's errors."""
    body = json_or_empty(response)
    if not isinstance(body, dict):
        body = {}
    if body.get("ok") is True and response.status_code < 400:
        return body.get("result")
    code = body.get("error_code")
    if not isinstance(code, int):
        code = response.status_code
    description = str(body.get("description") or "")
    parameters = body.get("parameters")
    if not isinstance(parameters, dict):
        parameters = {}
    if code == 429:
        seconds = parameters.get("retry_after")
        until = (
            datetime.now(UTC) + timedelta(seconds=float(seconds))
            if isinstance(seconds, int | float)
            else retry_after(response.headers)
        )
        raise rate_limited(NAME, until, description)
    if code in (401, 403) or (code == 404 and description):
        # 401 Unauthorized: a revoked or wrong token; 404: a token Telegram does not
        # know at all; 403: the bot was kicked from (or never joined) the chat.
        raise CredentialsExpiredError(
            f"{NAME} refused the bot ({description or f'HTTP {code}'}); "
            "check the bot token and that the bot is still in the chat"
        )
    if "migrate_to_chat_id" in parameters:
        raise CredentialsExpiredError(
            f"{NAME}: the group became a supergroup with chat id "
            f"{parameters['migrate_to_chat_id']}; reconnect the channel with that chat id"
        )
    if not description:
        # Not Telegram's envelope (a proxy's error page): the generic mapping.
        raise_for_status(response, network=NAME)
        raise PermanentError(f"{NAME} answered {what} with something that is not a result")
    if code in (408, 425) or code >= 500:
        raise TransientError(f"{NAME} could not take {what} now: {description}")
    raise PermanentError(f"{NAME} refused {what}: {description}")
