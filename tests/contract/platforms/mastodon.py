"""A Mastodon instance played on 127.0.0.1.

Sources (mastodon/documentation): ``methods/statuses.md`` (POST/GET/DELETE
/api/v1/statuses, Idempotency-Key), ``methods/media.md`` (POST /api/v2/media 200 or
202, GET /api/v1/media/:id 206 while processing), ``methods/accounts.md``
(verify_credentials), ``methods/instance.md`` + ``entities/Instance.md`` (v2
configuration), ``entities/Error.md`` (``{"error"}``), ``api/rate-limits.md`` and
mastodon ``rate_limit_headers.rb`` (X-RateLimit-Reset, ISO 8601 with microseconds).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from app.networks.base import Network
from app.networks.mastodon import MastodonAdapter
from tests.contract.harness import ContractCase, FakePlatform, Fault, PublishedPost

TOKEN = "mastodon-user-token-5f2c9a1e"
DOMAIN = "social.example"
USERNAME = "almanac"
NOT_PROCESSED = "Cannot attach files that have not finished processing. Try again in a moment!"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # entities/Error.md: {"error": "..."} (error_description only for OAuth errors).
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class FakeMastodon(FakePlatform):
    def __init__(self) -> None:
        super().__init__()
        self.media: dict[str, dict[str, Any]] = {}
        # How many GET /api/v1/media/:id answer 206 before 200; >0 makes uploads 202.
        self.processing_polls = 0
        self.keys: dict[str, str] = {}  # Idempotency-Key -> status id
        self.counts: dict[str, dict[str, int]] = {}
        self._ids = itertools.count(109_000_000_000_000_001)
        app = self.app

        def authorized(request: Request) -> bool:
            return request.headers.get("authorization") == f"Bearer {TOKEN}"

        # methods/accounts.md#verify_credentials; 401 body from entities/Error.md.
        @app.get("/api/v1/accounts/verify_credentials")
        async def verify_credentials(request: Request) -> Any:
            if not authorized(request):
                return _error(401, "The access token is invalid")
            return {
                "id": "1",
                "username": USERNAME,
                "acct": USERNAME,
                "display_name": "Almanac Café",
                "url": f"https://{DOMAIN}/@{USERNAME}",
            }

        # methods/instance.md#v2 (public, no token needed).
        @app.get("/api/v2/instance")
        async def instance() -> Any:
            return {
                "domain": DOMAIN,
                "title": "Social Example",
                "version": "4.3.0",
                "configuration": {
                    "urls": {"streaming": f"wss://{DOMAIN}"},
                    "accounts": {"max_featured_tags": 10},
                    "statuses": {
                        "max_characters": 1000,
                        "max_media_attachments": 4,
                        "characters_reserved_per_url": 23,
                    },
                    "media_attachments": {
                        "supported_mime_types": ["image/jpeg", "image/png", "video/mp4"],
                        "image_size_limit": 16777216,
                        "image_matrix_limit": 33177600,
                        "video_size_limit": 103809024,
                        "video_frame_rate_limit": 120,
                        "video_matrix_limit": 8294400,
                        "description_limit": 1500,
                    },
                    "polls": {"max_options": 4},
                },
            }

        # methods/media.md#v2: multipart file + description; 200 ready, 202 processing.
        @app.post("/api/v2/media")
        async def upload(request: Request) -> Any:
            if not authorized(request):
                return _error(401, "The access token is invalid")
            async with request.form() as form:  # closes the spooled upload
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    return _error(422, "Validation failed: File can't be blank")
                content = await upload.read()
                description = form.get("description") or None
            media_id = str(next(self._ids))
            processing = self.processing_polls > 0
            self.media[media_id] = {
                "id": media_id,
                "type": "image",
                "description": description,
                "size": len(content),
                "pending_polls": self.processing_polls,
                "status_id": None,
            }
            body = self._attachment(media_id)
            return JSONResponse(body, status_code=202 if processing else 200)

        # methods/media.md#get: 206 while processing, 200 when ready.
        @app.get("/api/v1/media/{media_id}")
        async def get_media(media_id: str, request: Request) -> Any:
            if not authorized(request):
                return _error(401, "The access token is invalid")
            media = self.media.get(media_id)
            if media is None:
                return _error(404, "Record not found")
            if media["pending_polls"] > 0:
                media["pending_polls"] -= 1
                return JSONResponse(self._attachment(media_id), status_code=206)
            return self._attachment(media_id)

        # methods/statuses.md#create; the Idempotency-Key returns the first status.
        @app.post("/api/v1/statuses")
        async def create_status(request: Request) -> Any:
            if not authorized(request):
                return _error(401, "The access token is invalid")
            key = request.headers.get("idempotency-key")
            if key and key in self.keys:
                return self._status(self.keys[key])
            body = await request.json()  # read before a Fault.timeout sleep
            fault = await self.fault_for_publish()
            if fault is Fault.expired:
                return _error(401, "The access token is invalid")
            if fault is Fault.rate_limited:
                reset = datetime.now(UTC) + timedelta(minutes=5)
                self.rate_limit_reset = reset
                return _error(
                    429,
                    "Too many requests",
                    {
                        "X-RateLimit-Limit": "300",
                        "X-RateLimit-Remaining": "0",
                        # rate_limit_headers.rb: reset.iso8601(6)
                        "X-RateLimit-Reset": reset.isoformat(timespec="microseconds"),
                    },
                )
            if fault is Fault.validation:
                return _error(422, self.validation_message)
            if fault is Fault.server_error:
                return _error(503, "Remote data could not be fetched")
            text = body.get("status") or ""
            media_ids = [str(i) for i in body.get("media_ids") or []]
            if not text and not media_ids:
                return _error(422, "Validation failed: Text can't be blank")
            if len(media_ids) > 4:
                return _error(422, "Cannot attach more than 4 files")
            for media_id in media_ids:
                media = self.media.get(media_id)
                if media is None or media["status_id"] is not None:
                    return _error(422, "Media attachment not found")  # 4.3+
                if media["pending_polls"] > 0:
                    return _error(422, NOT_PROCESSED)
            status_id = str(next(self._ids))
            for media_id in media_ids:
                self.media[media_id]["status_id"] = status_id
            self.posts[status_id] = PublishedPost(
                text=text,
                media=[{"id": m, "alt": self.media[m]["description"]} for m in media_ids],
                extra={"idempotency_key": key},
            )
            if key:
                self.keys[key] = status_id
            return self._status(status_id)

        @app.get("/api/v1/statuses/{status_id}")
        async def get_status(status_id: str, request: Request) -> Any:
            if not authorized(request):
                return _error(401, "The access token is invalid")
            post = self.posts.get(status_id)
            if post is None or post.deleted:
                return _error(404, "Record not found")
            return self._status(status_id)

        # methods/statuses.md#delete: returns the deleted status (with its source text).
        @app.delete("/api/v1/statuses/{status_id}")
        async def delete_status(status_id: str, request: Request) -> Any:
            if not authorized(request):
                return _error(401, "The access token is invalid")
            post = self.posts.get(status_id)
            if post is None or post.deleted:
                return _error(404, "Record not found")
            post.deleted = True
            return {**self._status(status_id), "text": post.text}

    def _attachment(self, media_id: str) -> dict[str, Any]:
        media = self.media[media_id]
        ready = media["pending_polls"] == 0
        return {
            "id": media_id,
            "type": media["type"],
            "url": f"https://files.{DOMAIN}/media/{media_id}.png" if ready else None,
            "preview_url": f"https://files.{DOMAIN}/media/{media_id}-small.png",
            "description": media["description"],
            "blurhash": None,
        }

    def _status(self, status_id: str) -> dict[str, Any]:
        post = self.posts[status_id]
        counts = self.counts.get(status_id, {})
        return {
            "id": status_id,
            "uri": f"https://{DOMAIN}/users/{USERNAME}/statuses/{status_id}",
            "url": f"https://{DOMAIN}/@{USERNAME}/{status_id}",
            "content": f"<p>{post.text}</p>",
            "visibility": "public",
            "media_attachments": [self._attachment(m["id"]) for m in post.media],
            "favourites_count": counts.get("favourites", 0),
            "reblogs_count": counts.get("reblogs", 0),
            "replies_count": counts.get("replies", 0),
        }

    def reset(self) -> None:
        super().reset()
        self.media.clear()
        self.keys.clear()
        self.counts.clear()
        self.processing_polls = 0


def make_platform() -> FakeMastodon:
    return FakeMastodon()


def case(platform: FakePlatform) -> ContractCase:
    return ContractCase(
        network=Network.mastodon,
        platform=platform,
        make_adapter=lambda http: MastodonAdapter(http, media_poll_interval=0.01),
        credentials={"instance_url": platform.url, "access_token": TOKEN},
        secrets=[TOKEN],
        handle=f"@{USERNAME}@{DOMAIN}",
    )
