"""A Discord webhook played on 127.0.0.1.

Sources (discord/discord-api-docs): ``developers/resources/webhook.mdx`` (Get Webhook
with Token, Execute Webhook with ``wait``, Get/Delete Webhook Message; the token in
the path is the only authentication), ``developers/reference.mdx`` ("Uploading
Files": ``files[n]`` + ``payload_json``, ``attachments[].id`` naming ``n``,
``description`` = alt text; "JSON Error Codes": 10008 Unknown Message, 10015 Unknown
Webhook, 50006 Cannot send an empty message, 50027 Invalid Webhook Token, 50035
Invalid Form Body with its nested ``errors``), ``developers/resources/message.mdx``
(the Message object), ``developers/topics/rate-limits.mdx`` (a 429's body ``{message,
retry_after, global}`` and the ``X-RateLimit-*`` / ``Retry-After`` headers).
"""

from __future__ import annotations

import itertools
import json
import math
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from app.networks.base import Network
from app.networks.discord import DiscordAdapter
from tests.contract.harness import ContractCase, FakePlatform, Fault, PublishedPost

WEBHOOK_ID = "1234567890123456789"
WEBHOOK_TOKEN = "Xk2v_almanacContractWebhookToken-0123456789abcdefABCDEF"
GUILD_ID = "1111111111111111111"
CHANNEL_ID = "2222222222222222222"
NAME = "Almanac Café"
RESET_AFTER = 2.5


def _error(status: int, code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


def _form_error(field: str, code: str, message: str) -> JSONResponse:
    errors = {field: {"_errors": [{"code": code, "message": message}]}}
    return _error(400, 50035, "Invalid Form Body", errors=errors)


class FakeDiscord(FakePlatform):
    validation_message = "Must be 2000 or fewer in length."

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, dict[str, Any]] = {}
        self.webhook_deleted = False
        self.rate_limit_global = False
        self.webhook_read_fails = False
        self.queries: list[dict[str, str]] = []  # query of each execution and deletion
        self.forced: deque[Response] = deque()  # answers for the next executions
        self._ids = itertools.count(1_300_000_000_000_000_001)
        app = self.app
        base = "/api/webhooks/{webhook_id}/{token}"

        def refused(webhook_id: str, token: str) -> JSONResponse | None:
            if webhook_id != WEBHOOK_ID or self.webhook_deleted:
                return _error(404, 10015, "Unknown Webhook")
            if token != WEBHOOK_TOKEN:
                return _error(401, 50027, "Invalid Webhook Token")
            return None

        # webhook.mdx "Get Webhook with Token": the webhook object, without `user`.
        @app.get(base)
        async def get_webhook(webhook_id: str, token: str) -> Any:
            if (error := refused(webhook_id, token)) is not None:
                return error
            if self.webhook_read_fails:
                return JSONResponse({"message": "503: Service Unavailable", "code": 0}, 503)
            return {
                "application_id": None,
                "avatar": None,
                "channel_id": CHANNEL_ID,
                "guild_id": GUILD_ID,
                "id": WEBHOOK_ID,
                "name": NAME,
                "type": 1,
                "token": WEBHOOK_TOKEN,
            }

        # webhook.mdx "Execute Webhook": JSON or multipart; wait=true returns the message.
        @app.post(base)
        async def execute(webhook_id: str, token: str, request: Request) -> Any:
            if (error := refused(webhook_id, token)) is not None:
                return error
            self.queries.append(dict(request.query_params))
            # Read first: a timed-out client is gone once the fault's delay is over.
            payload, files = await _payload(request)
            if self.forced:
                return self.forced.popleft()
            fault = await self.fault_for_publish()
            if (answer := self._fault_response(fault)) is not None:
                return answer
            if payload is None:
                return _error(400, 50109, "The request body contains invalid JSON.")
            content = payload.get("content") or ""
            if not isinstance(content, str):
                return _form_error("content", "BASE_TYPE_BAD_TYPE", "Must be a string.")
            if len(content) > 2000:
                return _form_error("content", "BASE_TYPE_MAX_LENGTH", self.validation_message)
            attachments = []
            declared = {str(a.get("id")): a for a in payload.get("attachments") or []}
            for index, (field, upload) in enumerate(sorted(files.items())):
                if field != f"files[{index}]":
                    return _form_error("files", "BASE_TYPE_BAD_TYPE", "Invalid file name.")
                meta = declared.get(str(index), {})
                description = meta.get("description") or ""
                if len(description) > 1024:
                    return _form_error(
                        f"attachments.{index}.description",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 1024 or fewer in length.",
                    )
                attachments.append(
                    {
                        "id": str(next(self._ids)),
                        "filename": meta.get("filename") or upload["filename"],
                        "description": description or None,
                        "size": len(upload["content"]),
                        "content_type": upload["content_type"],
                        "url": f"https://cdn.discordapp.com/attachments/{CHANNEL_ID}/x/{index}",
                    }
                )
            if not content.strip() and not attachments:
                return _error(400, 50006, "Cannot send an empty message")
            message = self._create(content, attachments)
            if request.query_params.get("wait") != "true":
                # Without wait: 204, and nothing tells a failure from a success.
                return Response(status_code=204)
            return message

        # webhook.mdx "Get Webhook Message".
        @app.get(base + "/messages/{message_id}")
        async def get_message(webhook_id: str, token: str, message_id: str) -> Any:
            if (error := refused(webhook_id, token)) is not None:
                return error
            message = self.messages.get(message_id)
            if message is None or self.posts[message_id].deleted:
                return _error(404, 10008, "Unknown Message")
            return message

        # webhook.mdx "Delete Webhook Message": 204 No Content.
        @app.delete(base + "/messages/{message_id}")
        async def delete_message(
            webhook_id: str, token: str, message_id: str, request: Request
        ) -> Any:
            if (error := refused(webhook_id, token)) is not None:
                return error
            self.queries.append(dict(request.query_params))
            post = self.posts.get(message_id)
            if post is None or post.deleted:
                return _error(404, 10008, "Unknown Message")
            post.deleted = True
            return Response(status_code=204)

    def reset(self) -> None:
        super().reset()
        self.messages.clear()
        self.webhook_deleted = False
        self.rate_limit_global = False
        self.webhook_read_fails = False
        self.queries.clear()
        self.forced.clear()

    def _fault_response(self, fault: Fault | None) -> Response | None:
        if fault is Fault.rate_limited:
            now = datetime.now(UTC)
            self.rate_limit_reset = now + timedelta(seconds=RESET_AFTER)
            headers = {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{self.rate_limit_reset.timestamp():.3f}",
                "X-RateLimit-Reset-After": f"{RESET_AFTER:.3f}",
                "X-RateLimit-Bucket": "abcd1234",
                "X-RateLimit-Scope": "global" if self.rate_limit_global else "user",
                "Retry-After": str(math.ceil(RESET_AFTER)),
            }
            if self.rate_limit_global:
                headers["X-RateLimit-Global"] = "true"
            body = {
                "message": "You are being rate limited.",
                "retry_after": RESET_AFTER,
                "global": self.rate_limit_global,
            }
            return JSONResponse(body, status_code=429, headers=headers)
        if fault is Fault.validation:
            return _form_error("content", "BASE_TYPE_MAX_LENGTH", self.validation_message)
        if fault is Fault.server_error:
            return JSONResponse({"message": "500: Internal Server Error", "code": 0}, 500)
        if fault is Fault.expired:
            # The webhook was deleted in the channel's settings.
            return _error(404, 10015, "Unknown Webhook")
        return None

    def _create(self, content: str, attachments: list[dict[str, Any]]) -> dict[str, Any]:
        message_id = str(next(self._ids))
        # message.mdx, the Message object as a webhook execution returns it (no guild_id).
        message = {
            "id": message_id,
            "type": 0,
            "content": content,
            "channel_id": CHANNEL_ID,
            "author": {"bot": True, "id": WEBHOOK_ID, "username": NAME, "avatar": None},
            "attachments": attachments,
            "embeds": [],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "webhook_id": WEBHOOK_ID,
        }
        self.messages[message_id] = message
        self.posts[message_id] = PublishedPost(
            text=content,
            media=[{"alt": a["description"] or "", **a} for a in attachments],
        )
        return message

    def react(self, message_id: str, emoji: str, count: int) -> None:
        reactions = self.messages[message_id].setdefault("reactions", [])
        reactions.append(
            {
                "count": count,
                "count_details": {"burst": 0, "normal": count},
                "me": False,
                "me_burst": False,
                "emoji": {"id": None, "name": emoji},
                "burst_colors": [],
            }
        )


async def _payload(request: Request) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The JSON params (the body, or multipart ``payload_json``) and the uploaded files."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = json.loads(await request.body())
        except ValueError:
            return None, {}
        return (body if isinstance(body, dict) else None), {}
    files: dict[str, dict[str, Any]] = {}
    payload: dict[str, Any] | None = {}
    async with request.form() as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[name] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "content": await value.read(),
                }
            elif name == "payload_json":
                try:
                    payload = json.loads(value)
                except ValueError:
                    payload = None
    return payload, files


def make_platform() -> FakeDiscord:
    return FakeDiscord()


def webhook_url(platform: FakePlatform, token: str = WEBHOOK_TOKEN) -> str:
    return f"{platform.url}/api/webhooks/{WEBHOOK_ID}/{token}"


def case(platform: FakePlatform) -> ContractCase:
    url = webhook_url(platform)
    return ContractCase(
        network=Network.discord,
        platform=platform,
        make_adapter=lambda http: DiscordAdapter(http),
        credentials={"webhook_url": url},
        secrets=[url, WEBHOOK_TOKEN],
        handle=NAME,
        notes="no idempotency (uncertain after a lost answer); reactions as likes",
    )
