"""A Bluesky PDS played on 127.0.0.1.

Sources: bluesky-social/atproto lexicons ``com/atproto/server/{createSession,
refreshSession,getSession}.json``, ``com/atproto/repo/{createRecord,deleteRecord,
getRecord,uploadBlob}.json``, ``com/atproto/identity/resolveHandle.json``,
``app/bsky/feed/{post,getPosts}.json``, ``app/bsky/embed/{images,external}.json``,
``app/bsky/richtext/facet.json``; the PDS itself (``packages/pds``: the auth verifier
answers 400 ``ExpiredToken``/``InvalidToken`` for a refused bearer token and 401
``AuthMissing`` without one; ``refreshSession`` answers 400 ``ExpiredToken`` "Token has
been revoked"; ``createSession`` answers 401 ``AuthenticationRequired`` "Invalid
identifier or password"; ``getRecord`` answers 400 ``RecordNotFound``;
``resolveHandle`` 400 ``HandleNotFound``); ``packages/xrpc-server``
(``rate-limiter-http.ts``: 429 ``RateLimitExceeded`` with ``RateLimit-Limit``,
``-Remaining``, ``-Reset`` in epoch seconds and ``-Policy``). A create whose record
key already exists is a 500 ``InternalServerError`` on the reference PDS (seen on
@atproto/pds 0.5.35: the repository tree refuses the key, nothing maps the error).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse

from app.networks.base import Network
from app.networks.bluesky import BlueskyAdapter
from app.networks.counting import grapheme_count
from tests.contract.harness import ContractCase, FakePlatform, Fault, PublishedPost

HANDLE = "almanac-cafe.bsky.social"
DID = "did:plc:almanaccafe2k4q7xz3vw5oe"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
DISPLAY_NAME = "Almanac Café"
# Every token this platform issues carries this, so the log check can find any.
TOKEN_SECRET = "s3cr3tJwtSignature-Almanac"
KNOWN_HANDLES = {HANDLE: DID, "bob.test": "did:plc:bobbobbobbobbobbobbobbob"}
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
RESET_AFTER = 30


def xrpc_error(status: int, error: str, message: str, **headers: str) -> JSONResponse:
    """The XRPC error body (lexicon error schema: ``{error, message}``)."""
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def cid_of(data: bytes) -> str:
    return "bafkrei" + hashlib.sha256(data).hexdigest()[:52]


class FakeBluesky(FakePlatform):
    validation_message = (
        "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes"
    )

    def __init__(self) -> None:
        super().__init__()
        self._serial = itertools.count(1)
        self.access_tokens: set[str] = set()
        self.expired_access: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.password_revoked = False
        self.blobs: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> record (live ones)
        self.metrics: dict[str, dict[str, int]] = {}
        self.page_html = (
            "<html><head><title>Fallback title</title>"
            '<meta property="og:title" content="Autumn roast &amp; more">'
            '<meta property="og:description" content="Our new beans, tasted.">'
            "</head><body>Hi</body></html>"
        )
        app = self.app

        def issue() -> dict[str, str]:
            n = next(self._serial)
            access, refresh = f"eyJ.access{n}.{TOKEN_SECRET}", f"eyJ.refresh{n}.{TOKEN_SECRET}"
            self.access_tokens.add(access)
            self.refresh_tokens.add(refresh)
            return {"accessJwt": access, "refreshJwt": refresh}

        def bearer(request: Request) -> str | None:
            value = request.headers.get("authorization", "")
            return value[7:] if value.startswith("Bearer ") else None

        def refused(request: Request) -> JSONResponse | None:
            token = bearer(request)
            if token is None:
                return xrpc_error(401, "AuthMissing", "Authentication Required")
            if token in self.expired_access:
                return xrpc_error(400, "ExpiredToken", "Token has expired")
            if token not in self.access_tokens:
                return xrpc_error(400, "InvalidToken", "Token could not be verified")
            return None

        def session_body(tokens: dict[str, str]) -> dict[str, Any]:
            return {
                **tokens,
                "handle": HANDLE,
                "did": DID,
                "didDoc": {
                    "id": DID,
                    "alsoKnownAs": [f"at://{HANDLE}"],
                    "service": [
                        {
                            "id": "#atproto_pds",
                            "type": "AtprotoPersonalDataServer",
                            "serviceEndpoint": self.url,
                        }
                    ],
                },
                "active": True,
            }

        # createSession.json: {identifier, password} -> tokens, did, handle, didDoc.
        @app.post("/xrpc/com.atproto.server.createSession")
        async def create_session(request: Request) -> Any:
            body = await request.json()
            if body.get("identifier") not in (HANDLE, DID) or not body.get("password"):
                return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
            if body["password"] != APP_PASSWORD or self.password_revoked:
                return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
            return session_body(issue())

        # refreshSession.json: Bearer refreshJwt; the old refresh token is rotated out.
        @app.post("/xrpc/com.atproto.server.refreshSession")
        async def refresh_session(request: Request) -> Any:
            token = bearer(request)
            if token is None:
                return xrpc_error(401, "AuthMissing", "Authentication Required")
            if token not in self.refresh_tokens:
                return xrpc_error(400, "ExpiredToken", "Token has been revoked")
            self.refresh_tokens.discard(token)
            return session_body(issue())

        @app.get("/xrpc/com.atproto.server.getSession")
        async def get_session(request: Request) -> Any:
            if (error := refused(request)) is not None:
                return error
            return {"handle": HANDLE, "did": DID, "active": True, "emailConfirmed": True}

        # resolveHandle.json: {did}; unknown handles are 400 HandleNotFound.
        @app.get("/xrpc/com.atproto.identity.resolveHandle")
        async def resolve_handle(handle: str) -> Any:
            did = KNOWN_HANDLES.get(handle.lower())
            if did is None:
                return xrpc_error(400, "HandleNotFound", "Unable to resolve handle")
            return {"did": did}

        # uploadBlob.json: raw bytes with their Content-Type -> {blob}.
        @app.post("/xrpc/com.atproto.repo.uploadBlob")
        async def upload_blob(request: Request) -> Any:
            if (error := refused(request)) is not None:
                return error
            data = await request.body()
            mime = request.headers.get("content-type", "")
            if not data or not mime or mime == "application/json":
                return xrpc_error(400, "InvalidRequest", "Request encoding (Content-Type) required")
            blob = {"$type": "blob", "ref": {"$link": cid_of(data)}, "mimeType": mime}
            blob["size"] = len(data)
            self.blobs[blob["ref"]["$link"]] = blob
            return {"blob": blob}

        # createRecord.json: {repo, collection, rkey?, record} -> {uri, cid, commit}.
        @app.post("/xrpc/com.atproto.repo.createRecord")
        async def create_record(request: Request) -> Any:
            if (error := refused(request)) is not None:
                return error
            body = await request.json()
            fault = await self.fault_for_publish()
            if fault is Fault.rate_limited:
                reset = math.ceil(time.time()) + RESET_AFTER
                self.rate_limit_reset = datetime.fromtimestamp(reset, UTC)
                return xrpc_error(
                    429,
                    "RateLimitExceeded",
                    "Rate Limit Exceeded",
                    **{
                        "RateLimit-Limit": "5000",
                        "RateLimit-Remaining": "0",
                        "RateLimit-Reset": str(reset),
                        "RateLimit-Policy": "5000;w=3600",
                    },
                )
            if fault is Fault.validation:
                return xrpc_error(400, "InvalidRequest", self.validation_message)
            if fault is Fault.server_error:
                return xrpc_error(500, "InternalServerError", "Internal Server Error")
            if fault is Fault.expired:
                # The account's app password was revoked: every session with it ends.
                self.password_revoked = True
                self.expired_access |= self.access_tokens
                self.refresh_tokens.clear()
                return xrpc_error(400, "ExpiredToken", "Token has expired")
            if body.get("repo") not in (DID, HANDLE):
                return xrpc_error(400, "InvalidRequest", "Could not find repo")
            if body.get("collection") != "app.bsky.feed.post":
                return xrpc_error(400, "InvalidRequest", "Invalid collection")
            rkey = body.get("rkey")
            if not isinstance(rkey, str) or not TID.match(rkey):
                return xrpc_error(400, "InvalidRequest", "Invalid record key: must be a TID")
            record = body.get("record") or {}
            problem = self.invalid_post(record)
            if problem:
                return xrpc_error(
                    400, "InvalidRequest", f"Invalid app.bsky.feed.post record: {problem}"
                )
            if rkey in self.records:
                return xrpc_error(500, "InternalServerError", "Internal Server Error")
            uri = f"at://{DID}/app.bsky.feed.post/{rkey}"
            self.records[rkey] = record
            embed = record.get("embed") or {}
            media = [dict(image) for image in embed.get("images", [])]
            self.posts[uri] = PublishedPost(
                text=record["text"], media=media, extra={"record": record, "rkey": rkey}
            )
            return {
                "uri": uri,
                "cid": cid_of(repr(record).encode()),
                "commit": {"cid": cid_of(uri.encode()), "rev": rkey},
                "validationStatus": "valid",
            }

        # getRecord.json: {uri, cid, value}; a missing one is 400 RecordNotFound.
        @app.get("/xrpc/com.atproto.repo.getRecord")
        async def get_record(repo: str, collection: str, rkey: str) -> Any:
            if repo not in (DID, HANDLE):
                return xrpc_error(400, "InvalidRequest", f"Could not find repo: {repo}")
            if collection == "app.bsky.actor.profile" and rkey == "self":
                value = {"$type": "app.bsky.actor.profile", "displayName": DISPLAY_NAME}
            elif collection == "app.bsky.feed.post" and rkey in self.records:
                value = self.records[rkey]
            else:
                return xrpc_error(
                    400,
                    "RecordNotFound",
                    f"Could not locate record: at://{DID}/{collection}/{rkey}",
                )
            uri = f"at://{DID}/{collection}/{rkey}"
            return {"uri": uri, "cid": cid_of(repr(value).encode()), "value": value}

        # deleteRecord.json: {repo, collection, rkey}; deleting a missing record is a no-op.
        @app.post("/xrpc/com.atproto.repo.deleteRecord")
        async def delete_record(request: Request) -> Any:
            if (error := refused(request)) is not None:
                return error
            body = await request.json()
            if body.get("repo") not in (DID, HANDLE):
                return xrpc_error(400, "InvalidRequest", "Could not find repo")
            rkey = body.get("rkey")
            uri = f"at://{DID}/{body.get('collection')}/{rkey}"
            self.records.pop(rkey, None)
            if uri in self.posts:
                self.posts[uri].deleted = True
            return {"commit": {"cid": cid_of(uri.encode()), "rev": "3kdeleted2222"}}

        # getPosts.json (the AppView, proxied by the PDS): {posts: [postView]}.
        @app.get("/xrpc/app.bsky.feed.getPosts")
        async def get_posts(request: Request) -> Any:
            if (error := refused(request)) is not None:
                return error
            uris = request.query_params.getlist("uris")
            posts = []
            for uri in uris:
                post = self.posts.get(uri)
                if post is None or post.deleted:
                    continue
                counts = self.metrics.get(uri, {})
                posts.append(
                    {
                        "uri": uri,
                        "cid": cid_of(uri.encode()),
                        "author": {"did": DID, "handle": HANDLE},
                        "record": post.extra["record"],
                        "likeCount": counts.get("likeCount", 0),
                        "repostCount": counts.get("repostCount", 0),
                        "replyCount": counts.get("replyCount", 0),
                        "quoteCount": counts.get("quoteCount", 0),
                        "indexedAt": datetime.now(UTC).isoformat(),
                    }
                )
            return {"posts": posts}

        # A web page for link cards (Open Graph tags), not part of the PDS.
        @app.get("/page")
        async def page() -> HTMLResponse:
            return HTMLResponse(self.page_html)

    def invalid_post(self, record: dict[str, Any]) -> str | None:
        """What the lexicon validation of ``app.bsky.feed.post`` refuses (post.json)."""
        if record.get("$type") != "app.bsky.feed.post":
            return "Record/$type must be app.bsky.feed.post"
        text = record.get("text")
        if not isinstance(text, str):
            return 'Record must have the property "text"'
        if grapheme_count(text) > 300 or len(text.encode()) > 3000:
            return "Record/text must not be longer than 300 graphemes"
        if not isinstance(record.get("createdAt"), str):
            return 'Record must have the property "createdAt"'
        for facet in record.get("facets", []):
            index = facet.get("index", {})
            if (
                not 0
                <= index.get("byteStart", -1)
                <= index.get("byteEnd", -1)
                <= len(text.encode())
            ):
                return "Record/facets/index is out of range"
        embed = record.get("embed")
        if embed and embed.get("$type") == "app.bsky.embed.images":
            images = embed.get("images", [])
            if not 1 <= len(images) <= 4:
                return "Record/embed/images must have 1 to 4 items"
            for image in images:
                if "alt" not in image:
                    return 'Record/embed/images/0 must have the property "alt"'
                link = (image.get("image") or {}).get("ref", {}).get("$link")
                if link not in self.blobs:
                    return f"Could not find blob: {link}"
        if embed and embed.get("$type") == "app.bsky.embed.external":
            external = embed.get("external") or {}
            if not all(
                isinstance(external.get(key), str) for key in ("uri", "title", "description")
            ):
                return "Record/embed/external must have uri, title and description"
        return None

    def reset(self) -> None:
        super().reset()
        self.access_tokens.clear()
        self.expired_access.clear()
        self.refresh_tokens.clear()
        self.password_revoked = False
        self.blobs.clear()
        self.records.clear()
        self.metrics.clear()


def make_platform() -> FakeBluesky:
    return FakeBluesky()


def case(platform: FakePlatform) -> ContractCase:
    return ContractCase(
        network=Network.bluesky,
        platform=platform,
        make_adapter=lambda http: BlueskyAdapter(http),
        credentials={"pds_url": platform.url, "identifier": HANDLE, "app_password": APP_PASSWORD},
        secrets=[APP_PASSWORD, TOKEN_SECRET],
        handle=HANDLE,
    )
