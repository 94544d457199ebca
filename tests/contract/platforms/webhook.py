"""A webhook receiver played on 127.0.0.1, as Almanac documents the contract in
``app/networks/webhook.py``: it checks the ``Almanac-Signature`` (HMAC-SHA256 over
``t.body``, stale timestamps refused), de-duplicates by ``Idempotency-Key`` and
answers with its own ``{"id", "url"}``. Error bodies are what common receivers send
(``{"error": ...}``); 429 carries ``Retry-After`` in seconds (RFC 9110 §10.2.3).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from app.networks.base import MediaItem, Network
from app.networks.webhook import WebhookAdapter
from tests.contract.harness import ContractCase, FakePlatform, Fault, PublishedPost

SECRET = "whsec-7d1e4b2a9c0f"
MAX_AGE = 300  # seconds a signature stays acceptable


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def signature_ok(header: str, body: bytes, secret: str = SECRET) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > MAX_AGE:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))


class FakeReceiver(FakePlatform):
    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, str] = {}  # Idempotency-Key -> post id
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answer_with_id = True
        self._ids = itertools.count(1)

        @self.app.post("/hooks/almanac")
        async def receive(request: Request) -> Any:
            body = await request.body()  # read before a Fault.timeout sleep
            if not signature_ok(request.headers.get("almanac-signature", ""), body):
                return _error(401, "invalid signature")
            key = request.headers.get("idempotency-key")
            if not key:
                return _error(400, "Idempotency-Key header required")
            event = json.loads(body)
            if event.get("type") != request.headers.get("almanac-event-type"):
                return _error(400, "event type mismatch")
            self.events.append(event)
            self.headers.append(dict(request.headers))
            if key in self.keys:
                return self._answer(self.keys[key])
            if event["type"] == "ping":
                return {"ok": True}
            if event["type"] == "post.deleted":
                post = self.posts.get(event["post_id"])
                if post is None:
                    return _error(404, "unknown post")
                post.deleted = True
                self.keys[key] = event["post_id"]
                return {"ok": True}
            fault = await self.fault_for_publish()
            if fault is Fault.expired:
                return _error(401, "invalid signature")
            if fault is Fault.rate_limited:
                self.rate_limit_reset = datetime.now(UTC) + timedelta(seconds=120)
                return _error(429, "slow down", {"Retry-After": "120"})
            if fault is Fault.validation:
                return _error(422, self.validation_message)
            if fault is Fault.server_error:
                return _error(502, "upstream unavailable")
            post_id = f"rcv-{next(self._ids)}"
            post = event["post"]
            self.posts[post_id] = PublishedPost(
                text=post["text"], media=post["media"], extra={"event": event}
            )
            self.keys[key] = post_id
            return self._answer(post_id)

    def _answer(self, post_id: str) -> Any:
        if not self.answer_with_id:
            return JSONResponse(None, status_code=204)
        return JSONResponse(
            {"id": post_id, "url": f"https://intranet.example/news/{post_id}"}, status_code=201
        )

    def reset(self) -> None:
        super().reset()
        self.keys.clear()
        self.events.clear()
        self.headers.clear()
        self.answer_with_id = True


def make_platform() -> FakeReceiver:
    return FakeReceiver()


def case(platform: FakePlatform) -> ContractCase:
    return ContractCase(
        network=Network.webhook,
        platform=platform,
        make_adapter=WebhookAdapter,
        credentials={
            "url": f"{platform.url}/hooks/almanac",
            "secret": SECRET,
            "send_deletions": True,
        },
        secrets=[SECRET],
        handle="127.0.0.1",
        # The webhook sends media by URL (the signed, expiring public link).
        media_item=lambda path: MediaItem(
            path=path,
            mime_type="image/png",
            alt="A cup of coffee",
            public_url="https://almanac.example/media/public/abc?expires=1&sig=x",
        ),
        notes="take-down needs send_deletions",
    )
