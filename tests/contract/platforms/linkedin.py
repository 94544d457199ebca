"""LinkedIn (Posts API) played on 127.0.0.1.

Sources (learn.microsoft.com/linkedin/marketing/community-management/shares/):
``posts-api`` (POST /rest/posts → 201, the post URN in ``x-restli-id``; DELETE
/rest/posts/{encoded urn} → 204; the ``LinkedIn-Version`` and
``X-Restli-Protocol-Version: 2.0.0`` headers), ``images-api`` (POST
/rest/images?action=initializeUpload → ``{value: {uploadUrl, image}}``, then PUT the
bytes), ``little-text-format`` (reserved characters), ``multiimage-post-api``;
``/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2`` (GET
/v2/userinfo); ``/linkedin/shared/api-guide/concepts/error-handling`` (``{status,
serviceErrorCode, message}``); ``/linkedin/shared/api-guide/concepts/rate-limits``
(429, daily limits reset at midnight UTC, no headers); ``socialActions`` for the
likes and comments summary.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from app.networks.base import Network
from app.networks.linkedin import LinkedInAdapter
from tests.contract.harness import ContractCase, FakePlatform, Fault, PublishedPost

TOKEN = "linkedin-member-token-7e3b9c1d5a"
SUB = "782bbtaQ"
AUTHOR = f"urn:li:person:{SUB}"
VERSION = "202610"
CLIENT_ID = "almanac-linkedin-client"
CLIENT_SECRET = "linkedin-client-secret-2f9a"
REFRESH_TOKEN = "linkedin-refresh-token-5d1c"
DUPLICATE = "Content is a duplicate of urn:li:share:7000000000000000001"
# An unescaped reserved character: what LinkedIn's little-format parser would misread.
_UNESCAPED = re.compile(r"(?<!\\)(?:\\\\)*[|{}@\[\]()<>#*_~]")


def error(status: int, message: str, code: int | None = None, **headers: str) -> JSONResponse:
    # error-handling: {status, serviceErrorCode, message} (code on some errors).
    body: dict[str, Any] = {"status": status, "message": message}
    if code is not None:
        body["serviceErrorCode"] = code
    return JSONResponse(body, status_code=status, headers=headers or None)


def unescape(commentary: str) -> str:
    return re.sub(r"\\(.)", r"\1", commentary)


class FakeLinkedIn(FakePlatform):
    validation_message = DUPLICATE

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(7_100_000_000_000_000_001)
        self.images: dict[str, dict[str, Any]] = {}
        self.raw_commentary: dict[str, str] = {}
        self.reactions: dict[str, dict[str, int]] = {}
        self.raw_paths: list[str] = []  # as sent, percent-encoding included
        app = self.app

        @app.middleware("http")
        async def raw(request, call_next):  # type: ignore[no-untyped-def]
            self.raw_paths.append(request.scope.get("raw_path", b"").decode("latin-1"))
            return await call_next(request)

        def refusal(request: Request, rest: bool = True) -> JSONResponse | None:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return error(401, "Invalid access token", 65600)
            if rest:
                if request.headers.get("linkedin-version") != VERSION:
                    return error(426, "A version must be present. Please specify a version.")
                if request.headers.get("x-restli-protocol-version") != "2.0.0":
                    return error(400, "Restli protocol version 2.0.0 is required")
            return None

        # programmatic-refresh-tokens: client id and secret in the form body; the
        # refresh token is not renewed (it keeps its 365-day life).
        @app.post("/oauth/v2/accessToken")
        async def token(request: Request) -> Any:
            form = {key: str(value) for key, value in (await request.form()).items()}
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return JSONResponse(
                    {
                        "error": "invalid_client",
                        "error_description": "Client authentication failed",
                    },
                    status_code=401,
                )
            if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != (
                REFRESH_TOKEN
            ):
                return JSONResponse(
                    {
                        "error": "invalid_request",
                        "error_description": "The provided refresh token is invalid",
                    },
                    status_code=400,
                )
            return {
                "access_token": TOKEN,
                "expires_in": 5_184_000,
                "refresh_token": REFRESH_TOKEN,
                "refresh_token_expires_in": 31_000_000,
                "scope": "openid,profile,w_member_social",
            }

        @app.get("/v2/userinfo")
        async def userinfo(request: Request) -> Any:
            if (refused := refusal(request, rest=False)) is not None:
                return refused
            return {
                "sub": SUB,
                "name": "Ada Almanac",
                "given_name": "Ada",
                "family_name": "Almanac",
                "email": "ada@almanac.example",
                "email_verified": True,
                "locale": {"country": "US", "language": "en"},
            }

        @app.post("/rest/images")
        async def initialize(request: Request, action: str = "") -> Any:
            if (refused := refusal(request)) is not None:
                return refused
            body = await request.json()
            owner = (body.get("initializeUploadRequest") or {}).get("owner")
            if action != "initializeUpload" or owner != AUTHOR:
                return error(400, "Invalid initializeUploadRequest", 100)
            image = f"urn:li:image:C4E10AQ{next(self._ids)}"
            self.images[image] = {"bytes": None}
            return {
                "value": {
                    "uploadUrlExpiresAt": 1_900_000_000_000,
                    "uploadUrl": f"{self.url}/dms-uploads/{image}",
                    "image": image,
                }
            }

        @app.put("/dms-uploads/{image}")
        async def upload(image: str, request: Request) -> Any:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return error(401, "Invalid access token", 65600)
            if image not in self.images:
                return error(404, "Upload URL not found")
            self.images[image]["bytes"] = await request.body()
            return Response(status_code=201)

        @app.post("/rest/posts")
        async def create(request: Request) -> Any:
            if (refused := refusal(request)) is not None:
                return refused
            body = await request.json()  # read before a Fault.timeout sleep
            fault = await self.fault_for_publish()
            if fault is Fault.expired:
                return error(401, "The token used in the request has expired", 65601)
            if fault is Fault.rate_limited:
                now = datetime.now(UTC)
                self.rate_limit_reset = datetime(now.year, now.month, now.day, tzinfo=UTC) + (
                    timedelta(days=1)
                )
                return error(429, "Resource level throttle APPLICATION DAY limit reached")
            if fault is Fault.validation:
                return error(422, DUPLICATE, 100)
            if fault is Fault.server_error:
                return error(500, "Internal Server Error")
            missing = [
                name
                for name in ("author", "commentary", "visibility", "distribution", "lifecycleState")
                if name not in body
            ]
            if missing:
                return error(422, f"Missing required fields: {', '.join(missing)}", 100)
            if body["author"] != AUTHOR:
                return error(403, f"Not enough permissions to post as {body['author']}", 100)
            commentary = body["commentary"]
            if _UNESCAPED.search(commentary):
                return error(400, "Unescaped reserved character in commentary", 100)
            content = body.get("content") or {}
            entries = []
            if "media" in content:
                entries = [content["media"]]
            elif "multiImage" in content:
                entries = content["multiImage"].get("images") or []
            for entry in entries:
                image = self.images.get(entry.get("id"))
                if image is None or image["bytes"] is None:
                    return error(422, f"Image {entry.get('id')} is not uploaded", 100)
            urn = f"urn:li:share:{next(self._ids)}"
            self.raw_commentary[urn] = commentary
            self.posts[urn] = PublishedPost(
                text=unescape(commentary),
                media=[{"id": e["id"], "alt": e.get("altText", "")} for e in entries],
                extra={"content": content},
            )
            return Response(status_code=201, headers={"x-restli-id": urn})

        @app.delete("/rest/posts/{encoded:path}")
        async def delete(encoded: str, request: Request) -> Any:
            if (refused := refusal(request)) is not None:
                return refused
            post = self.posts.get(unquote(encoded))
            if post is None or post.deleted:
                return error(404, "Not Found")
            post.deleted = True
            return Response(status_code=204)

        @app.get("/rest/socialActions/{encoded:path}")
        async def social_actions(encoded: str, request: Request) -> Any:
            if (refused := refusal(request)) is not None:
                return refused
            urn = unquote(encoded)
            if urn not in self.posts:
                return error(404, "Not Found")
            counts = self.reactions.get(urn, {})
            return {
                "target": urn,
                "likesSummary": {"totalLikes": counts.get("likes", 0), "likedByCurrentUser": False},
                "commentsSummary": {
                    "totalFirstLevelComments": counts.get("comments", 0),
                    "aggregatedTotalComments": counts.get("comments", 0),
                },
            }

    def reset(self) -> None:
        super().reset()
        self.images.clear()
        self.raw_commentary.clear()
        self.reactions.clear()
        self.raw_paths.clear()


def make_platform() -> FakeLinkedIn:
    return FakeLinkedIn()


def case(platform: FakePlatform) -> ContractCase:
    return ContractCase(
        network=Network.linkedin,
        platform=platform,
        make_adapter=lambda http: LinkedInAdapter(http, api_base=platform.url, version=VERSION),
        credentials={"access_token": TOKEN, "author": AUTHOR},
        secrets=[TOKEN],
        handle="ada@almanac.example",
        notes="no idempotency: a timed-out post is left to a person (LookupUnsupported)",
    )
