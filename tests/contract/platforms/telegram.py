"""The Telegram Bot API played on 127.0.0.1.

Sources: core.telegram.org/bots/api (as mirrored in the docs.rs client crates and
docs.python-telegram-bot.org): "Making requests" (``/bot<token>/<method>``, JSON,
form or multipart bodies, the ``{ok, result}`` / ``{ok: false, error_code,
description, parameters}`` envelope, ``ResponseParameters.retry_after``), the
methods ``getMe``, ``getChat``, ``getChatMember``, ``sendMessage``, ``sendPhoto``,
``sendDocument``, ``sendMediaGroup`` (2–10 items, ``attach://<name>``),
``deleteMessage`` (48 hours) and ``deleteMessages``; the types ``User``, ``ChatFullInfo``,
``ChatMemberAdministrator`` and ``Message``. Error descriptions are the ones the Bot
API is known to return ("Unauthorized", "Bad Request: chat not found", "Bad Request:
message is too long", "Bad Request: message to delete not found", "Bad Request:
message can't be deleted", "Too Many Requests: retry after N"); the album errors'
exact wording is unconfirmed.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from app.networks.base import MediaItem, Network
from app.networks.telegram import TelegramAdapter
from tests.contract.harness import ContractCase, FakePlatform, Fault, PublishedPost

# A token in BotFather's format (<bot id>:<35 characters>), so the log redaction sees it.
BOT_TOKEN = "7000001:AAH-almanacContractToken_0123456789"
BOT = {
    "id": 7000001,
    "is_bot": True,
    "first_name": "Almanac",
    "username": "almanac_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
CHANNEL = {
    "id": -1001234567890,
    "type": "channel",
    "title": "Almanac Café News",
    "username": "almanac_news",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
RETRY_AFTER = 7


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


class FakeTelegram(FakePlatform):
    validation_message = "Bad Request: message is too long"

    def __init__(self) -> None:
        super().__init__()
        self.chat: dict[str, Any] = dict(CHANNEL)
        self.member_status = "administrator"
        self.can_post_messages = True
        self.sent_at: dict[int, float] = {}  # message id -> Unix time it was sent
        self.bodies: list[dict[str, Any]] = []  # the parameters of each publishing call
        self.forced: deque[JSONResponse] = deque()
        self._ids = itertools.count(101)
        app = self.app

        @app.post("/bot{token}/{method}")
        async def call(token: str, method: str, request: Request) -> Any:
            if token != BOT_TOKEN:
                # A revoked or wrong token: 401 Unauthorized in the envelope.
                return _error(401, "Unauthorized")
            handler = self.methods.get(method)
            if handler is None:
                return _error(404, "Not Found")
            params, files = await _parameters(request)
            return await handler(params, files)

        self.methods = {
            "getMe": self._get_me,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_file("photo"),
            "sendAnimation": self._send_file("animation"),
            "sendVideo": self._send_file("video"),
            "sendDocument": self._send_file("document"),
            "sendMediaGroup": self._send_media_group,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
        }

    def reset(self) -> None:
        super().reset()
        self.chat = dict(CHANNEL)
        self.member_status = "administrator"
        self.can_post_messages = True
        self.sent_at.clear()
        self.bodies.clear()
        self.forced.clear()

    # -- helpers ---------------------------------------------------------------------

    def _known_chat(self, chat_id: Any) -> bool:
        return str(chat_id) in (str(self.chat["id"]), f"@{self.chat.get('username')}")

    def answer_next(self, code: int, description: str, **parameters: Any) -> None:
        """The next publishing call gets this error (beyond the harness's faults)."""
        self.forced.append(_error(code, description, parameters or None))

    async def _refusal(self) -> JSONResponse | None:
        if self.forced:
            return self.forced.popleft()
        return self._fault_response(await self.fault_for_publish())

    def _fault_response(self, fault: Fault | None) -> JSONResponse | None:
        if fault is Fault.rate_limited:
            self.rate_limit_reset = datetime.now(UTC) + timedelta(seconds=RETRY_AFTER)
            return _error(
                429,
                f"Too Many Requests: retry after {RETRY_AFTER}",
                {"retry_after": RETRY_AFTER},
            )
        if fault is Fault.validation:
            return _error(400, self.validation_message)
        if fault is Fault.server_error:
            return _error(500, "Internal Server Error")
        if fault is Fault.expired:
            return _error(401, "Unauthorized")
        return None

    def _message(self, extra: dict[str, Any]) -> dict[str, Any]:
        message_id = next(self._ids)
        now = time.time()
        self.sent_at[message_id] = now
        chat = {k: v for k, v in self.chat.items() if k in ("id", "type", "title", "username")}
        return {"message_id": message_id, "sender_chat": chat, "chat": chat, "date": int(now)}

    def _key(self, message_id: int) -> str:
        return f"{self.chat['id']}:{message_id}"

    # -- methods ---------------------------------------------------------------------

    async def _get_me(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return _ok(BOT)

    async def _get_chat(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if not self._known_chat(params.get("chat_id")):
            return _error(400, "Bad Request: chat not found")
        return _ok({**self.chat, "accent_color_id": 0, "max_reaction_count": 11})

    async def _get_chat_member(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if not self._known_chat(params.get("chat_id")):
            return _error(400, "Bad Request: chat not found")
        if str(params.get("user_id")) != str(BOT["id"]):
            return _error(400, "Bad Request: user not found")
        member: dict[str, Any] = {"user": BOT, "status": self.member_status}
        if self.member_status == "administrator":
            member.update(can_be_edited=False, can_post_messages=self.can_post_messages)
        return _ok(member)

    async def _send_message(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if (refused := await self._refusal()) is not None:
            return refused
        if not self._known_chat(params.get("chat_id")):
            return _error(400, "Bad Request: chat not found")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return _error(400, "Bad Request: message is too long")
        preview = params.get("link_preview_options")
        if preview is not None and not isinstance(preview, dict):
            return _error(400, "Bad Request: can't parse link preview options JSON object")
        self.bodies.append(params)
        message = {**self._message(params), "text": text}
        self.posts[self._key(message["message_id"])] = PublishedPost(text=text, extra=params)
        return _ok(message)

    def _send_file(self, field: str) -> Any:
        async def send(params: dict[str, Any], files: dict[str, Any]) -> Any:
            if (refused := await self._refusal()) is not None:
                return refused
            if not self._known_chat(params.get("chat_id")):
                return _error(400, "Bad Request: chat not found")
            upload = files.get(field)
            if upload is None:
                return _error(400, f"Bad Request: there is no {field} in the request")
            caption = params.get("caption") or ""
            if len(caption.encode("utf-16-le")) // 2 > 1024:
                return _error(400, "Bad Request: message caption is too long")
            if field == "photo" and not upload["content"].startswith((PNG_MAGIC, JPEG_MAGIC)):
                return _error(400, "Bad Request: IMAGE_PROCESS_FAILED")
            self.bodies.append(params)
            message = {**self._message(params), field: _file_object(upload), "caption": caption}
            self.posts[self._key(message["message_id"])] = PublishedPost(
                text=caption,
                media=[{"alt": "", "kind": field, **_summary(upload)}],
                extra=params,
            )
            return _ok(message)

        return send

    async def _send_media_group(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if (refused := await self._refusal()) is not None:
            return refused
        if not self._known_chat(params.get("chat_id")):
            return _error(400, "Bad Request: chat not found")
        try:
            media = json.loads(params.get("media") or "")
        except ValueError:
            return _error(400, "Bad Request: can't parse media JSON object")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            return _error(400, "Bad Request: wrong number of media specified")
        kinds = {item.get("type") for item in media}
        if "document" in kinds and kinds != {"document"}:
            return _error(400, "Bad Request: document can't be mixed with other media types")
        uploads = []
        for item in media:
            name = str(item.get("media", "")).removeprefix("attach://")
            if name not in files:
                return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            uploads.append((item, files[name]))
        self.bodies.append(params)
        group_id = str(next(self._ids) * 1000)
        messages = []
        for item, upload in uploads:
            message = {
                **self._message(params),
                "media_group_id": group_id,
                item["type"]: _file_object(upload),
            }
            if item.get("caption"):
                message["caption"] = item["caption"]
            messages.append(message)
            self.posts[self._key(message["message_id"])] = PublishedPost(
                text=item.get("caption", ""),
                media=[{"alt": "", "kind": item["type"], **_summary(upload)}],
                extra={"media_group_id": group_id},
            )
        return _ok(messages)

    async def _delete_message(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if not self._known_chat(params.get("chat_id")):
            return _error(400, "Bad Request: chat not found")
        message_id = int(params.get("message_id", 0))
        post = self.posts.get(self._key(message_id))
        if post is None or post.deleted:
            return _error(400, "Bad Request: message to delete not found")
        if time.time() - self.sent_at[message_id] > 48 * 3600:
            return _error(400, "Bad Request: message can't be deleted")
        post.deleted = True
        return _ok(True)

    async def _delete_messages(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        # deleteMessages: 1–100 ids; ids that cannot be found are skipped.
        if not self._known_chat(params.get("chat_id")):
            return _error(400, "Bad Request: chat not found")
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            return _error(400, "Bad Request: message identifiers are not specified")
        for message_id in ids:
            post = self.posts.get(self._key(int(message_id)))
            if post is not None:
                post.deleted = True
        return _ok(True)


async def _parameters(request: Request) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A Bot API call's parameters from a JSON, form or multipart body, and its files."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.json()
        return (body if isinstance(body, dict) else {}), {}
    if not content_type:
        return {}, {}
    params: dict[str, Any] = {}
    files: dict[str, dict[str, Any]] = {}
    async with request.form() as form:  # closes the uploads' temporary files
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[name] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "content": await value.read(),
                }
            else:
                params[name] = value
    return params, files


def _summary(upload: dict[str, Any]) -> dict[str, Any]:
    return {
        "filename": upload["filename"],
        "content_type": upload["content_type"],
        "size": len(upload["content"]),
    }


def _file_object(upload: dict[str, Any]) -> Any:
    size = len(upload["content"])
    return [{"file_id": f"AgAC{size}", "file_unique_id": f"AQAD{size}", "file_size": size}]


def make_platform() -> FakeTelegram:
    return FakeTelegram()


def case(platform: FakePlatform) -> ContractCase:
    credentials = {"bot_token": BOT_TOKEN, "chat_id": "@almanac_news"}
    return ContractCase(
        network=Network.telegram,
        platform=platform,
        make_adapter=lambda http: TelegramAdapter(http, api_base=platform.url),
        credentials=credentials,
        secrets=[BOT_TOKEN],
        handle="@almanac_news",
        # Telegram has no alt text: the media test publishes a picture without one.
        media_item=lambda path: MediaItem(path=path, mime_type="image/png", alt=""),
        notes="no idempotency (uncertain after a lost answer); no metrics; no alt text",
    )
