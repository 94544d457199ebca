"""A Matrix homeserver (one room) played on 127.0.0.1.

Sources: the client-server spec (spec.matrix.org, v1.x): ``PUT
/rooms/{roomId}/send/{eventType}/{txnId}`` (transaction ids de-duplicated per
device), ``PUT /rooms/{roomId}/redact/{eventId}/{txnId}``, ``GET /account/whoami``,
``GET /joined_rooms``, ``POST /_matrix/media/v3/upload``, ``GET
/_matrix/client/v1/media/config``, ``GET /_matrix/client/v1/rooms/{roomId}/relations``,
``GET /rooms/{roomId}/messages``; "Standard error response" and "Rate limiting"
(``M_LIMIT_EXCEEDED`` with ``retry_after_ms``). Error words as Synapse 1.163 says
them (``synapse/api/errors.py``, ``synapse/event_auth.py``, ``api/auth/internal.py``).
"""

from __future__ import annotations

import itertools
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from app.networks.base import Network
from app.networks.matrix import MatrixAdapter
from tests.contract.harness import ContractCase, FakePlatform, Fault, PublishedPost

TOKEN = "syt_YWxtYW5hYw_matrixsecret_0a1b2c"
USER_ID = "@almanac:matrix.example"
ROOM_ID = "!coffee:matrix.example"
UPLOAD_SIZE = 52_428_800


def _error(
    status: int, errcode: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"errcode": errcode, "error": message, **extra}, status_code=status, headers=headers
    )


def _unknown_token() -> JSONResponse:
    return _error(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.", soft_logout=False)


class FakeHomeserver(FakePlatform):
    validation_message = "event too large"  # Synapse event_auth: 413 M_TOO_LARGE

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, dict[str, Any]] = {}  # event id -> event, in order sent
        self.txns: dict[tuple[str, str], str] = {}  # (token, txnId) -> event id
        self.uploads: dict[str, bytes] = {}
        self._counter = itertools.count(1)
        app = self.app

        def authorized(request: Request) -> bool:
            return request.headers.get("authorization") == f"Bearer {TOKEN}"

        @app.get("/_matrix/client/v3/account/whoami")
        async def whoami(request: Request) -> Any:
            if not authorized(request):
                return _unknown_token()
            return {"user_id": USER_ID, "device_id": "ALMANACDEV", "is_guest": False}

        @app.get("/_matrix/client/v3/joined_rooms")
        async def joined_rooms(request: Request) -> Any:
            if not authorized(request):
                return _unknown_token()
            return {"joined_rooms": [ROOM_ID]}

        @app.get("/_matrix/client/v3/profile/{user_id}/displayname")
        async def displayname(user_id: str, request: Request) -> Any:
            if user_id != USER_ID:
                return _error(404, "M_NOT_FOUND", "Profile was not found")
            return {"displayname": "Almanac Café"}

        @app.get("/_matrix/client/v1/media/config")
        async def media_config(request: Request) -> Any:
            if not authorized(request):
                return _unknown_token()
            return {"m.upload.size": UPLOAD_SIZE}

        @app.post("/_matrix/media/v3/upload")
        async def upload(request: Request) -> Any:
            if not authorized(request):
                return _unknown_token()
            if not request.headers.get("content-type"):
                return _error(400, "M_UNKNOWN", "Missing content type")
            media_id = secrets.token_urlsafe(12)
            self.uploads[media_id] = await request.body()
            return {"content_uri": f"mxc://matrix.example/{media_id}"}

        @app.put("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn_id}")
        async def send_message(room_id: str, txn_id: str, request: Request) -> Any:
            if not authorized(request):
                return _unknown_token()
            content = await request.json()  # read before a Fault.timeout sleep
            if room_id != ROOM_ID:
                return _error(403, "M_FORBIDDEN", f"User {USER_ID} not in room {room_id}")
            if (TOKEN, txn_id) in self.txns:  # the spec's idempotency: same event back
                return {"event_id": self.txns[(TOKEN, txn_id)]}
            fault = await self.fault_for_publish()
            if fault is Fault.expired:
                return _unknown_token()
            if fault is Fault.rate_limited:
                self.rate_limit_reset = datetime.now(UTC) + timedelta(seconds=30)
                return _error(
                    429,
                    "M_LIMIT_EXCEEDED",
                    "Too Many Requests",
                    {"Retry-After": "30"},
                    retry_after_ms=30_000,
                )
            if fault is Fault.validation:
                return _error(413, "M_TOO_LARGE", self.validation_message)
            if fault is Fault.server_error:
                return _error(500, "M_UNKNOWN", "Internal server error")
            if not isinstance(content.get("msgtype"), str) or "body" not in content:
                return _error(400, "M_BAD_JSON", "'msgtype' and 'body' are required")
            event_id = self._store(content, txn_id)
            return {"event_id": event_id}

        @app.put("/_matrix/client/v3/rooms/{room_id}/redact/{event_id}/{txn_id}")
        async def redact(room_id: str, event_id: str, txn_id: str, request: Request) -> Any:
            if not authorized(request):
                return _unknown_token()
            if (TOKEN, txn_id) in self.txns:
                return {"event_id": self.txns[(TOKEN, txn_id)]}
            event = self.events.get(event_id)
            if event is None or room_id != ROOM_ID:
                return _error(404, "M_NOT_FOUND", "Event not found.")
            reason = (await request.json()).get("reason")
            event["content"] = {}  # the redaction algorithm keeps no message content
            event["unsigned"]["redacted_because"] = {"content": {"reason": reason}}
            if event_id in self.posts:
                self.posts[event_id].deleted = True
            redaction_id = self._new_event_id()
            self.txns[(TOKEN, txn_id)] = redaction_id
            return {"event_id": redaction_id}

        @app.get("/_matrix/client/v1/rooms/{room_id}/relations/{event_id}/{rel_type}")
        async def relations(room_id: str, event_id: str, rel_type: str, request: Request) -> Any:
            if not authorized(request):
                return _unknown_token()
            if event_id not in self.events:
                return _error(404, "M_NOT_FOUND", "Event not found.")
            chunk = [
                self._client_event(e)
                for e in reversed(self.events.values())
                if e["content"].get("m.relates_to", {}).get("event_id") == event_id
                and e["content"]["m.relates_to"].get("rel_type") == rel_type
            ]
            return {"chunk": chunk}

        @app.get("/_matrix/client/v3/rooms/{room_id}/messages")
        async def messages(room_id: str, request: Request) -> Any:
            if not authorized(request):
                return _unknown_token()
            event_filter = json.loads(request.query_params.get("filter") or "{}")
            senders = event_filter.get("senders")
            chunk = [
                self._client_event(e)
                for e in reversed(self.events.values())
                if senders is None or e["sender"] in senders
            ]
            return {"chunk": chunk, "start": "t1"}  # no `end`: the start of the room

    def _new_event_id(self) -> str:
        return f"${secrets.token_urlsafe(32)}{next(self._counter)}"

    def _store(self, content: dict[str, Any], txn_id: str) -> str:
        event_id = self._new_event_id()
        self.events[event_id] = {
            "event_id": event_id,
            "type": "m.room.message",
            "sender": USER_ID,
            "room_id": ROOM_ID,
            "content": content,
            "unsigned": {"transaction_id": txn_id},  # shown to the sending device
        }
        self.txns[(TOKEN, txn_id)] = event_id
        media = (
            [{"alt": content["body"], "url": content.get("url"), "info": content.get("info")}]
            if content["msgtype"] in ("m.image", "m.video", "m.audio", "m.file")
            else []
        )
        relation = content.get("m.relates_to") or {}
        anchor = relation.get("event_id") if relation.get("rel_type") == "m.reference" else None
        if anchor in self.posts:
            self.posts[anchor].media += media
        else:
            text = content["body"] if content["msgtype"] == "m.text" else ""
            self.posts[event_id] = PublishedPost(text=text, media=media)
        return event_id

    def _client_event(self, event: dict[str, Any]) -> dict[str, Any]:
        return {**event, "origin_server_ts": 1_700_000_000_000}

    def reset(self) -> None:
        super().reset()
        self.events.clear()
        self.txns.clear()
        self.uploads.clear()


def make_platform() -> FakeHomeserver:
    return FakeHomeserver()


def case(platform: FakePlatform) -> ContractCase:
    return ContractCase(
        network=Network.matrix,
        platform=platform,
        make_adapter=MatrixAdapter,
        credentials={"homeserver_url": platform.url, "access_token": TOKEN, "room_id": ROOM_ID},
        secrets=[TOKEN],
        handle=USER_ID,
    )
