"""X (API v2) played on 127.0.0.1, with its OAuth 2.0 authorization server.

Sources (xdevplatform/docs and docs.x.com): ``x-api/posts/manage-tweets/integrate.mdx``
(POST /2/tweets → 201 ``{data: {id, text}}``, DELETE /2/tweets/:id → ``{data:
{deleted}}``), ``x-api/media/quickstart/media-upload-chunked.mdx`` (initialize /
append / finalize / STATUS, ``processing_info``), ``x-api/media/create-media-metadata``
(``/2/media/metadata``, ``alt_text``), ``x-api/users/lookup`` (GET /2/users/me),
``x-api/fundamentals/metrics.mdx`` (``public_metrics``),
``x-api/fundamentals/response-codes-and-errors.mdx`` (problem JSON ``{title, detail,
type, status}``), ``x-api/fundamentals/rate-limits.mdx`` (429 with
``x-rate-limit-reset``, Unix seconds), ``fundamentals/authentication/oauth-2-0/
authorization-code.mdx`` (authorize with PKCE, POST /2/oauth2/token, Basic auth for
confidential clients, ``invalid_request`` for a bad refresh token). The duplicate
content refusal (403) is the one postiz handles.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse

from app.db import Database
from app.networks.base import Network, OAuthApp
from app.networks.x import XAdapter
from app.settings import Settings
from tests.conftest import make_settings
from tests.contract.harness import ContractCase, FakePlatform, Fault, PublishedPost

TOKEN = "x-user-token-8d1f2e6a9b"
REFRESH_TOKEN = "x-refresh-token-3c7a5e9d1f"
USERNAME = "almanac"
CLIENT_ID = "almanac-x-client-id"
CLIENT_SECRET = "x-client-secret-4b8e2a6c0d"
ACCESS_LIFETIME = 7200  # seconds: X access tokens last 2 hours
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."


def problem(status: int, title: str, detail: str, kind: str = "about:blank", **headers: str):  # type: ignore[no-untyped-def]
    # response-codes-and-errors.mdx: problem JSON.
    body = {"title": title, "detail": detail, "type": kind, "status": status}
    return JSONResponse(body, status_code=status, headers=headers or None)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    # RFC 6749 §5.2, as X answers it.
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


class FakeX(FakePlatform):
    validation_message = DUPLICATE

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1_860_000_000_000_000_001)
        self.media: dict[str, dict[str, Any]] = {}
        self.metrics: dict[str, dict[str, int]] = {}
        # How many STATUS polls answer "in_progress" for a video.
        self.processing_polls = 0
        # OAuth: live access tokens, refresh tokens (each usable once: X rotates them),
        # issued codes with their PKCE challenge.
        self.access_tokens: set[str] = {TOKEN}
        self.refresh_tokens: set[str] = {REFRESH_TOKEN}
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests: list[dict[str, str]] = []
        # How many token requests answer 503 (an outage at X) before it works again.
        self.token_outage = 0
        app = self.app

        def authorized(request: Request) -> bool:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            return scheme == "Bearer" and token in self.access_tokens

        def unauthorized() -> JSONResponse:
            return problem(401, "Unauthorized", "Unauthorized")

        @app.get("/2/users/me")
        async def me(request: Request) -> Any:
            if not authorized(request):
                return unauthorized()
            return {"data": {"id": "2244994945", "name": "Almanac Café", "username": USERNAME}}

        # -- media ------------------------------------------------------------------

        @app.post("/2/media/upload/initialize")
        async def initialize(request: Request) -> Any:
            if not authorized(request):
                return unauthorized()
            body = await request.json()
            if not isinstance(body.get("total_bytes"), int) or not body.get("media_type"):
                return problem(
                    400,
                    "Invalid Request",
                    "One or more parameters to your request was invalid.",
                    "https://api.x.com/2/problems/invalid-request",
                )
            media_id = str(next(self._ids))
            self.media[media_id] = {
                "total": body["total_bytes"],
                "type": body["media_type"],
                "category": body.get("media_category"),
                "segments": {},
                "finalized": False,
                "alt": "",
                "polls": 0,
                "appends": 0,
            }
            return {
                "data": {
                    "id": media_id,
                    "media_key": f"3_{media_id}",
                    "expires_after_secs": 86400,
                }
            }

        @app.post("/2/media/upload/{media_id}/append")
        async def append(media_id: str, request: Request) -> Any:
            if not authorized(request):
                return unauthorized()
            media = self.media.get(media_id)
            if media is None or media["finalized"]:
                return problem(400, "Invalid Request", f"Invalid media id {media_id}")
            async with request.form() as form:  # closes the uploaded chunk's temp file
                chunk = form.get("media")
                index = form.get("segment_index")
                if chunk is None or isinstance(chunk, str) or not str(index).isdigit():
                    return problem(400, "Invalid Request", "segment_index and media are required")
                media["segments"][int(str(index))] = await chunk.read()
            media["appends"] += 1
            return JSONResponse({}, status_code=200)

        @app.post("/2/media/upload/{media_id}/finalize")
        async def finalize(media_id: str, request: Request) -> Any:
            if not authorized(request):
                return unauthorized()
            media = self.media.get(media_id)
            if media is None:
                return problem(400, "Invalid Request", f"Invalid media id {media_id}")
            segments = media["segments"]
            size = sum(len(chunk) for chunk in segments.values())
            if sorted(segments) != list(range(len(segments))) or size != media["total"]:
                return problem(
                    400, "Invalid Request", "Segments do not add up to the provided total_bytes."
                )
            media["finalized"] = True
            data: dict[str, Any] = {
                "id": media_id,
                "media_key": f"3_{media_id}",
                "size": size,
                "expires_after_secs": 86400,
            }
            if media["type"].startswith("video/"):
                media["polls"] = self.processing_polls
                data["processing_info"] = {"state": "pending", "check_after_secs": 1}
            return {"data": data}

        @app.get("/2/media/upload")
        async def status(request: Request, command: str = "", media_id: str = "") -> Any:
            if not authorized(request):
                return unauthorized()
            media = self.media.get(media_id)
            if command != "STATUS" or media is None:
                return problem(400, "Invalid Request", "Invalid media id")
            if media["polls"] > 0:
                media["polls"] -= 1
                info = {"state": "in_progress", "check_after_secs": 1, "progress_percent": 50}
            else:
                info = {"state": "succeeded", "progress_percent": 100}
            return {"data": {"id": media_id, "processing_info": info}}

        @app.post("/2/media/metadata")
        async def metadata(request: Request) -> Any:
            if not authorized(request):
                return unauthorized()
            body = await request.json()
            media = self.media.get(str(body.get("id")))
            if media is None:
                return problem(400, "Invalid Request", "Invalid media id")
            media["alt"] = ((body.get("metadata") or {}).get("alt_text") or {}).get("text", "")
            return {"data": {"id": body["id"], "associated_metadata": True}}

        # -- posts ------------------------------------------------------------------

        @app.post("/2/tweets")
        async def create(request: Request) -> Any:
            if not authorized(request):
                return unauthorized()
            body = await request.json()  # read before a Fault.timeout sleep
            fault = await self.fault_for_publish()
            if fault is Fault.expired:
                return unauthorized()
            if fault is Fault.rate_limited:
                reset = int(time.time()) + 900
                self.rate_limit_reset = datetime.fromtimestamp(reset, UTC)
                return problem(
                    429,
                    "Too Many Requests",
                    "Too Many Requests",
                    **{
                        "x-rate-limit-limit": "100",
                        "x-rate-limit-remaining": "0",
                        "x-rate-limit-reset": str(reset),
                    },
                )
            if fault is Fault.validation:
                return problem(403, "Forbidden", DUPLICATE)
            if fault is Fault.server_error:
                return problem(503, "Service Unavailable", "Service Unavailable")
            text = body.get("text") or ""
            media_ids = [str(m) for m in (body.get("media") or {}).get("media_ids") or []]
            if not text and not media_ids:
                return problem(
                    400,
                    "Invalid Request",
                    "One or more parameters to your request was invalid.",
                    "https://api.x.com/2/problems/invalid-request",
                )
            for media_id in media_ids:
                media = self.media.get(media_id)
                if media is None or not media["finalized"] or media["polls"] > 0:
                    return problem(
                        400,
                        "Invalid Request",
                        f"Your media IDs are invalid: {media_id}",
                        "https://api.x.com/2/problems/invalid-request",
                    )
            if any(p.text == text and not p.deleted for p in self.posts.values()):
                return problem(403, "Forbidden", DUPLICATE)
            post_id = str(next(self._ids))
            self.posts[post_id] = PublishedPost(
                text=text,
                media=[{"id": m, "alt": self.media[m]["alt"]} for m in media_ids],
            )
            return JSONResponse(
                {"data": {"id": post_id, "edit_history_tweet_ids": [post_id], "text": text}},
                status_code=201,
            )

        @app.delete("/2/tweets/{post_id}")
        async def delete(post_id: str, request: Request) -> Any:
            if not authorized(request):
                return unauthorized()
            post = self.posts.get(post_id)
            if post is None or post.deleted:
                return problem(
                    404,
                    "Not Found Error",
                    f"Could not find tweet with id: [{post_id}].",
                    "https://api.x.com/2/problems/resource-not-found",
                )
            post.deleted = True
            return {"data": {"deleted": True}}

        @app.get("/2/tweets/{post_id}")
        async def lookup(post_id: str, request: Request) -> Any:
            if not authorized(request):
                return unauthorized()
            post = self.posts.get(post_id)
            if post is None or post.deleted:
                return problem(
                    404,
                    "Not Found Error",
                    f"Could not find tweet with id: [{post_id}].",
                    "https://api.x.com/2/problems/resource-not-found",
                )
            data: dict[str, Any] = {"id": post_id, "text": post.text}
            if "public_metrics" in request.query_params.get("tweet.fields", ""):
                counts = self.metrics.get(post_id, {})
                data["public_metrics"] = {
                    "retweet_count": counts.get("retweets", 0),
                    "reply_count": counts.get("replies", 0),
                    "like_count": counts.get("likes", 0),
                    "quote_count": counts.get("quotes", 0),
                    "bookmark_count": 0,
                    "impression_count": counts.get("impressions", 0),
                }
            return {"data": data}

        # -- OAuth 2.0 (authorization code with PKCE) -----------------------------------

        @app.get("/i/oauth2/authorize")
        async def authorize(request: Request) -> Any:
            """The user consents at once: a code bound to the PKCE challenge, sent back
            to the redirect URI with the state, as X's consent page does."""
            q = request.query_params
            if q.get("response_type") != "code" or q.get("client_id") != CLIENT_ID:
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "challenge": q["code_challenge"],
                "redirect_uri": q.get("redirect_uri", ""),
                "scope": q.get("scope", ""),
            }
            query = urlencode({"state": q.get("state", ""), "code": code})
            return RedirectResponse(f"{q.get('redirect_uri')}?{query}", status_code=302)

        @app.post("/2/oauth2/token")
        async def token(request: Request) -> Any:
            form = {key: str(value) for key, value in (await request.form()).items()}
            self.token_requests.append(form)
            if self.token_outage > 0:
                self.token_outage -= 1
                return problem(503, "Service Unavailable", "Service Unavailable")
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return oauth_error("invalid_client", "Missing valid authorization header", 401)
            grant = form.get("grant_type")
            if grant == "authorization_code":
                issued = self.codes.pop(form.get("code", ""), None)
                if issued is None:
                    return oauth_error("invalid_request", "Value passed for the token was invalid.")
                if form.get("redirect_uri") != issued["redirect_uri"]:
                    return oauth_error(
                        "invalid_request", "Value passed for the redirect uri was invalid."
                    )
                if s256(form.get("code_verifier", "")) != issued["challenge"]:
                    return oauth_error(
                        "invalid_request", "Value passed for the code verifier was invalid."
                    )
                return self._issue(issued["scope"])
            if grant == "refresh_token":
                current = form.get("refresh_token", "")
                if current not in self.refresh_tokens:
                    return oauth_error("invalid_request", "Value passed for the token was invalid.")
                self.refresh_tokens.discard(current)  # rotated: each refresh token works once
                return self._issue("tweet.read tweet.write users.read offline.access")
            return oauth_error("unsupported_grant_type", "Unsupported grant type")

    def _issue(self, scope: str) -> dict[str, Any]:
        access = f"x-access-{secrets.token_hex(8)}"
        self.access_tokens.add(access)
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": ACCESS_LIFETIME,
            "access_token": access,
            "scope": scope,
        }
        if "offline.access" in scope.split():
            refresh = f"x-refresh-{secrets.token_hex(8)}"
            self.refresh_tokens.add(refresh)
            body["refresh_token"] = refresh
        return body

    def oauth_app(self) -> OAuthApp:
        return OAuthApp(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            authorize_url=f"{self.url}/i/oauth2/authorize",
            token_url=f"{self.url}/2/oauth2/token",
            api_base=self.url,
            scopes=("tweet.read", "tweet.write", "users.read", "media.write", "offline.access"),
        )

    def reset(self) -> None:
        super().reset()
        self.media.clear()
        self.metrics.clear()
        self.processing_polls = 0
        self.access_tokens = {TOKEN}
        self.refresh_tokens = {REFRESH_TOKEN}
        self.codes.clear()
        self.token_requests.clear()
        self.token_outage = 0


def make_platform() -> FakeX:
    return FakeX()


def server_settings(platform: FakeX, database: Database, data_dir: Path) -> Settings:
    """This server's settings with its X app (client id and secret, authorization
    server, token endpoint, API) pointed at ``platform``."""
    return make_settings(
        data_dir,
        database.engine.url.render_as_string(hide_password=False),
        x_client_id=CLIENT_ID,
        x_client_secret=CLIENT_SECRET,
        x_authorize_url=f"{platform.url}/i/oauth2/authorize",
        x_token_url=f"{platform.url}/2/oauth2/token",
        x_api_base=platform.url,
    )


def case(platform: FakePlatform) -> ContractCase:
    assert isinstance(platform, FakeX)
    return ContractCase(
        network=Network.x,
        platform=platform,
        make_adapter=lambda http: XAdapter(
            http, oauth=platform.oauth_app(), chunk_size=100, poll_interval=0
        ),
        credentials={"access_token": TOKEN, "refresh_token": REFRESH_TOKEN},
        secrets=[TOKEN, REFRESH_TOKEN, CLIENT_SECRET],
        handle=USERNAME,
        notes="no idempotency: a timed-out post is left to a person (LookupUnsupported)",
    )
