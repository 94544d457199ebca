"""What the fake Facebook, Instagram and Threads platforms share: token checks, Graph
error bodies, usage headers, containers that are polled and published, and a small
media host that serves signed, expiring links the platforms really download.

Sources: developers.facebook.com/docs/graph-api/guides/error-handling (error object,
codes 1/2/100/190, subcode 463), /docs/graph-api/overview/rate-limiting (codes
4/17/32/613/80001/80002, ``X-Business-Use-Case-Usage`` with
``estimated_time_to_regain_access`` in minutes), Instagram "IG Container" reference
(``status_code`` IN_PROGRESS/FINISHED/ERROR/EXPIRED/PUBLISHED and ``status``), Threads
"Troubleshooting" (``status``/``error_message``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from tests.contract.harness import FakePlatform, Fault, PublishedPost

# Every fake Graph object id is numeric, as Meta's are.
_ids = itertools.count(17_841_400_000_000_000)


def new_id() -> str:
    return str(next(_ids))


def graph_time(moment: datetime | None = None) -> str:
    """Graph timestamps: ``2026-05-01T10:00:00+0000``."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S+0000")


def graph_error(
    status: int,
    message: str,
    *,
    code: int,
    subcode: int | None = None,
    type_: str = "OAuthException",
    user_msg: str | None = None,
    transient: bool | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A Graph error object (error-handling guide), with the ``fbtrace_id`` Meta adds."""
    error: dict[str, Any] = {
        "message": message,
        "type": type_,
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(8),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if user_msg is not None:
        error["error_user_title"] = "Error"
        error["error_user_msg"] = user_msg
    if transient is not None:
        error["is_transient"] = transient
    return JSONResponse({"error": error}, status_code=status, headers=headers)


# -- media host ------------------------------------------------------------------------


class MediaHost(FakePlatform):
    """Plays Almanac's public media links (``/m/{id}?exp=&sig=``): a file is served
    only with a valid signature that has not expired, as ``app.media`` does."""

    def __init__(self) -> None:
        super().__init__()
        self.key = secrets.token_bytes(16)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.downloads: list[str] = []

        @self.app.get("/m/{media_id}")
        async def serve(media_id: str, exp: str = "", sig: str = "") -> Response:
            if media_id not in self.files or not exp.isdigit():
                return Response("This media link is not valid.", status_code=403)
            if not hmac.compare_digest(self._sign(media_id, int(exp)), sig):
                return Response("This media link is not valid.", status_code=403)
            if int(exp) < time.time():
                return Response("This media link has expired.", status_code=403)
            data, mime = self.files[media_id]
            self.downloads.append(media_id)
            return Response(data, media_type=mime)

    def _sign(self, media_id: str, expires: int) -> str:
        message = f"almanac-media:{media_id}:{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def publish_file(self, data: bytes, mime: str, *, expires_in: float = 3600) -> str:
        media_id = secrets.token_hex(8)
        self.files[media_id] = (data, mime)
        expires = int(time.time() + expires_in)
        return f"{self.url}/m/{media_id}?exp={expires}&sig={self._sign(media_id, expires)}"

    def reset(self) -> None:
        super().reset()
        self.downloads.clear()


def jpeg_of(path: str) -> bytes:
    """The suite's PNG as the JPEG Instagram insists on."""
    import io

    from PIL import Image

    out = io.BytesIO()
    with Image.open(path) as image:
        image.convert("RGB").save(out, format="JPEG")
    return out.getvalue()


# -- the platforms' common part --------------------------------------------------------


@dataclass
class Container:
    id: str
    params: dict[str, str]
    media: list[dict[str, Any]] = field(default_factory=list)
    status: str = "IN_PROGRESS"
    polls: int = 0
    published_id: str | None = None
    error: str = ""


class GraphPlatform(FakePlatform):
    """Token checks and Graph errors for one account on one Graph host. Subclasses
    add their routes; ``version`` is the path prefix the real host serves."""

    version = "v25.0"
    token = "graph-token-secret"
    account_id = "1784140000"
    # Fault.rate_limited: the throttling code and the business-use-case type.
    throttle_code = 80001
    throttle_type = "pages"
    throttle_minutes = 7
    validation_code = 100
    validation_subcode: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.media_host = MediaHost()
        self.extra_tokens: set[str] = set()  # tokens issued by a refresh
        self.tokens_in_url = 0  # requests that carried the token in the query or body

    # -- lifecycle: the media host lives and dies with the platform -------------------

    def start(self) -> None:
        self.media_host.start()
        super().start()

    def stop(self) -> None:
        super().stop()
        self.media_host.stop()

    def reset(self) -> None:
        super().reset()
        self.media_host.reset()
        self.extra_tokens.clear()
        self.tokens_in_url = 0

    # -- checks -------------------------------------------------------------------------

    def token_of(self, request: Request, form: dict[str, Any] | None = None) -> str | None:
        """Graph takes the token as ``access_token`` (query or body) or in an
        ``Authorization: Bearer|OAuth`` header."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value:
            return value.strip()
        token = request.query_params.get("access_token") or (form or {}).get("access_token")
        if token:
            self.tokens_in_url += 1
        return str(token) if token else None

    def auth_error(self, request: Request, form: dict[str, Any] | None = None) -> Response | None:
        token = self.token_of(request, form)
        if token is None:
            return graph_error(
                400, "An active access token must be used to query information.", code=2500
            )
        if token != self.token and token not in self.extra_tokens:
            return graph_error(
                400, "Invalid OAuth access token - Cannot parse access token", code=190
            )
        return None

    def _refuse(
        self, version: str, request: Request, form: dict[str, Any] | None = None
    ) -> Response | None:
        if version != self.version:
            return graph_error(400, f"Unknown path components: /{version}", code=2500)
        return self.auth_error(request, form)

    @staticmethod
    def unknown(object_id: str) -> Response:
        return graph_error(
            400,
            f"Unsupported request. Object with ID '{object_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            code=100,
            subcode=33,
            type_="GraphMethodException",
        )

    def fault_response(self, fault: Fault) -> Response | None:
        """The network's answer to an injected fault (Fault.timeout is handled by the
        caller: the work is done, the answer comes late)."""
        if fault is Fault.expired:
            return graph_error(
                400,
                "Error validating access token: Session has expired on Friday, 01-May-26 "
                "10:00:00 PDT. The current time is Friday, 01-May-26 11:00:00 PDT.",
                code=190,
                subcode=463,
            )
        if fault is Fault.rate_limited:
            self.rate_limit_reset = datetime.now(UTC) + timedelta(minutes=self.throttle_minutes)
            usage = {
                self.account_id: [
                    {
                        "type": self.throttle_type,
                        "call_count": 100,
                        "total_cputime": 12,
                        "total_time": 20,
                        "estimated_time_to_regain_access": self.throttle_minutes,
                    }
                ]
            }
            return graph_error(
                400,
                "(#80001) There have been too many calls to this account. Wait a bit "
                "and try again.",
                code=self.throttle_code,
                headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            )
        if fault is Fault.validation:
            return graph_error(
                400,
                "Invalid parameter",
                code=self.validation_code,
                subcode=self.validation_subcode,
                user_msg=self.validation_message,
            )
        if fault is Fault.server_error:
            return graph_error(
                500,
                "Service temporarily unavailable",
                code=2,
                type_="OAuthException",
                transient=True,
            )
        return None

    def peek_fault(self) -> Fault | None:
        return self.faults[0] if self.faults else None


async def form_of(request: Request) -> dict[str, Any]:
    """The POST fields, from a form body and the query string (Graph reads both)."""
    fields: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, str):
                    fields[key] = value
                else:  # a file part: read now, the form closes its temporary files
                    data = await value.read()
                    fields[key] = Upload(value.filename or "", value.content_type or "", data)
    return fields


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


async def fetch_media(url: str) -> tuple[bytes, str] | None:
    """Download a media URL as Meta does (it cURLs it): None when it cannot."""
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        try:
            response = await client.get(url)
        except httpx.HTTPError:
            return None
    if response.status_code != 200:
        return None
    return response.content, response.headers.get("content-type", "")


def is_jpeg(data: bytes) -> bool:
    return data[:3] == b"\xff\xd8\xff"


def file_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


# -- container platforms (Instagram, Threads) --------------------------------------------


class ContainerPlatform(GraphPlatform):
    """One professional account publishing through media containers. A container is
    IN_PROGRESS when made and FINISHED from the second status poll on (so adapters must
    poll); publishing makes it PUBLISHED. Faults other than ``timeout`` answer the call
    that creates a container; ``timeout`` delays the publishing call, which still
    publishes."""

    username = "almanac.coffee"
    create_edge = "media"
    publish_edge = "media_publish"
    list_edge = "media"
    text_field = "caption"
    status_field = "status_code"
    error_field = "status"
    max_text = 2200
    jpeg_only = True
    text_only_type: str | None = None  # Threads: "TEXT"
    permalink_base = "https://www.instagram.com/p/"
    # What the platform answers when a published container is published again. Meta
    # does not document it (unconfirmed); adapters must look at the status instead.
    already_published: tuple[str, int, int | None] = (
        "The media has already been published",
        9007,
        2207027,
    )

    def __init__(self) -> None:
        super().__init__()
        self.containers: dict[str, Container] = {}
        self.media_ids: dict[str, str] = {}  # media id -> container id
        self.publish_calls = 0
        self.likes: dict[str, int] = {}
        # The next container made ends in ERROR with this reason (IG ``status``,
        # Threads ``error_message``).
        self.fail_next_container: str | None = None

        @self.app.get("/{version}/{object_id}")
        async def read(version: str, object_id: str, request: Request) -> Response:
            if (refused := self._refuse(version, request)) is not None:
                return refused
            fields = set(request.query_params.get("fields", "id").split(","))
            return self.read_object(object_id, fields)

        @self.app.delete("/{version}/{object_id}")
        async def delete(version: str, object_id: str, request: Request) -> Response:
            if (refused := self._refuse(version, request)) is not None:
                return refused
            return self.delete_object(object_id)

        @self.app.get("/{version}/{object_id}/{edge}")
        async def read_edge(version: str, object_id: str, edge: str, request: Request) -> Response:
            if (refused := self._refuse(version, request)) is not None:
                return refused
            if object_id == self.account_id and edge == self.list_edge:
                return self.list_posts()
            return self.read_other_edge(object_id, edge, request)

        @self.app.post("/{version}/{object_id}/{edge}")
        async def write_edge(version: str, object_id: str, edge: str, request: Request) -> Response:
            form = await form_of(request)
            if (refused := self._refuse(version, request, form)) is not None:
                return refused
            if object_id != self.account_id:
                return self.unknown(object_id)
            if edge == self.create_edge:
                return await self.create_container(form)
            if edge == self.publish_edge:
                return await self.publish_container(form)
            return self.unknown(f"{object_id}/{edge}")

    # -- helpers ---------------------------------------------------------------------------

    def permalink(self, media_id: str) -> str:
        return f"{self.permalink_base}{media_id}/"

    # -- containers ---------------------------------------------------------------------

    async def create_container(self, form: dict[str, Any]) -> Response:
        fault = self.peek_fault()
        if fault is not None and fault is not Fault.timeout:
            self.take_fault()
            answer = self.fault_response(fault)
            assert answer is not None
            return answer
        text = str(form.get(self.text_field) or "")
        if len(text) > self.max_text:
            return graph_error(
                400,
                "Invalid parameter",
                code=100,
                subcode=2207010,
                user_msg=f"The {self.text_field} is longer than {self.max_text} characters.",
            )
        media_type = str(form.get("media_type") or "IMAGE").upper()
        container = Container(id=new_id(), params={k: str(v) for k, v in form.items()})
        if media_type == "CAROUSEL":
            children = [c for c in str(form.get("children") or "").split(",") if c]
            if not 2 <= len(children) <= 20:
                return graph_error(
                    400,
                    "Invalid parameter",
                    code=100,
                    user_msg="A carousel needs 2 to 10 children.",
                )
            for child_id in children:
                child = self.containers.get(child_id)
                if child is None or form.get("is_carousel_item"):
                    return graph_error(
                        400, "Invalid parameter", code=100, user_msg=f"Invalid child {child_id}."
                    )
                if child.params.get("is_carousel_item") != "true" or child.status != "FINISHED":
                    return graph_error(
                        400,
                        "Media ID is not available",
                        code=9007,
                        subcode=2207027,
                        user_msg="The media is not ready for publishing, please wait for a moment",
                    )
                container.media += child.media
        elif self.text_only_type is not None and media_type == self.text_only_type:
            if not text:
                return graph_error(
                    400, "Invalid parameter", code=100, user_msg="The text is empty."
                )
        else:
            url = form.get("image_url") or form.get("video_url")
            if not url:
                return graph_error(
                    400, "Invalid parameter", code=100, user_msg="image_url is required."
                )
            fetched = await fetch_media(str(url))
            if fetched is None or (
                self.jpeg_only and "image_url" in form and not is_jpeg(fetched[0])
            ):
                return graph_error(
                    400,
                    "Only photo or video can be accepted as media type.",
                    code=9004,
                    subcode=2207052,
                    user_msg="Media download has failed. The media URI doesn't meet our "
                    "requirements.",
                )
            container.media.append(
                {"alt": str(form.get("alt_text") or ""), "bytes": len(fetched[0])}
            )
        if self.fail_next_container is not None:
            container.status, container.error = "ERROR", self.fail_next_container
            self.fail_next_container = None
        self.containers[container.id] = container
        return JSONResponse({"id": container.id})

    async def publish_container(self, form: dict[str, Any]) -> Response:
        self.publish_calls += 1
        timed_out = False
        if self.peek_fault() is Fault.timeout:
            await self.fault_for_publish()
            timed_out = True
        container = self.containers.get(str(form.get("creation_id") or ""))
        if container is None:
            return self.unknown(str(form.get("creation_id")))
        if container.status == "PUBLISHED":
            message, code, subcode = self.already_published
            return graph_error(400, message, code=code, subcode=subcode)
        if container.status != "FINISHED" or container.params.get("is_carousel_item") == "true":
            return graph_error(
                400,
                "Media ID is not available",
                code=9007,
                subcode=2207027,
                user_msg="The media is not ready for publishing, please wait for a moment",
            )
        media_id = new_id()
        container.status = "PUBLISHED"
        container.published_id = media_id
        self.media_ids[media_id] = container.id
        self.posts[media_id] = PublishedPost(
            text=container.params.get(self.text_field, ""),
            media=container.media,
            extra={
                "container": container.id,
                "timestamp": graph_time(),
                "media_type": container.params.get("media_type", "IMAGE"),
                "link_attachment": container.params.get("link_attachment"),
                "timed_out": timed_out,
            },
        )
        return JSONResponse({"id": media_id})

    # -- reads ----------------------------------------------------------------------------

    def read_object(self, object_id: str, fields: set[str]) -> Response:
        if object_id == self.account_id:
            info = {"id": self.account_id, "username": self.username, "name": "Almanac Coffee"}
            return JSONResponse({k: v for k, v in info.items() if k in fields | {"id"}})
        if object_id in self.containers:
            container = self.containers[object_id]
            if container.status == "IN_PROGRESS":
                container.polls += 1
                if container.polls > 1:
                    container.status = "FINISHED"
            body: dict[str, Any] = {"id": object_id}
            if self.status_field in fields:
                body[self.status_field] = container.status
            if self.error_field in fields and container.error:
                body[self.error_field] = container.error
            elif self.error_field in fields and self.error_field == "status":
                body["status"] = container.status.capitalize()
            return JSONResponse(body)
        post = self.posts.get(object_id)
        if post is None or post.deleted:
            return self.unknown(object_id)
        values = {
            "id": object_id,
            self.text_field: post.text,
            "permalink": self.permalink(object_id),
            "timestamp": post.extra["timestamp"],
            "like_count": self.likes.get(object_id, 0),
            "comments_count": 2,
            "media_type": post.extra["media_type"],
        }
        return JSONResponse({k: v for k, v in values.items() if k in fields | {"id"}})

    def list_posts(self) -> Response:
        data = [
            {
                "id": media_id,
                self.text_field: post.text,
                "timestamp": post.extra["timestamp"],
                "permalink": self.permalink(media_id),
            }
            for media_id, post in reversed(list(self.posts.items()))
            if not post.deleted
        ]
        return JSONResponse(
            {"data": data, "paging": {"cursors": {"before": "QVFIUk", "after": "QVFIUl"}}}
        )

    def read_other_edge(self, object_id: str, edge: str, request: Request) -> Response:
        return self.unknown(f"{object_id}/{edge}")

    def delete_object(self, object_id: str) -> Response:
        # IG Media supports no DELETE (IG Media reference).
        return graph_error(
            400,
            f"Unsupported delete request. Object with ID '{object_id}' does not exist, cannot "
            "be loaded due to missing permissions, or does not support this operation.",
            code=100,
            subcode=33,
            type_="GraphMethodException",
        )

    def reset(self) -> None:
        super().reset()
        self.containers.clear()
        self.media_ids.clear()
        self.publish_calls = 0
        self.likes.clear()
        self.fail_next_container = None


# -- Meta's token endpoint (Facebook Login) ------------------------------------------------

META_APP_ID = "1234567890123456"
META_APP_SECRET = "meta-app-secret-5d2e8b1a7c"
LONG_LIVED_SECONDS = 5_183_944  # "expires_in" of a long-lived token: about 60 days
SHORT_LIVED_SECONDS = 5_400


class MetaTokens:
    """``POST /v25.0/oauth/access_token`` as Graph answers it (Facebook Login "Manually
    Build a Login Flow": code → short-lived user token; "Long-Lived Access Tokens":
    ``grant_type=fb_exchange_token`` → ``{access_token, token_type, expires_in}``).
    Codes are single use and bound to the dialog's ``redirect_uri``; the app id and
    secret are checked (codes 101 and 1 when wrong)."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, Any]] = {}  # code -> {redirect_uri, grant}
        self.short_lived: dict[str, Any] = {}  # token -> grant
        self.long_lived: dict[str, Any] = {}  # token -> grant
        self.token_forms: list[dict[str, str]] = []

    def issue_code(self, redirect_uri: str, grant: Any) -> str:
        code = f"AQ{secrets.token_urlsafe(24)}"
        self.codes[code] = {"redirect_uri": redirect_uri, "grant": grant}
        return code

    def user_token(self, token: str | None) -> Any:
        """The grant a live user token stands for (None: not a token Meta issued)."""
        if token is None:
            return None
        return self.long_lived.get(token, self.short_lived.get(token))

    def answer(self, form: dict[str, Any]) -> Response:
        self.token_forms.append({k: str(v) for k, v in form.items()})
        if form.get("client_id") != META_APP_ID:
            return graph_error(
                400, "Error validating application. Invalid application ID.", code=101
            )
        if form.get("client_secret") != META_APP_SECRET:
            return graph_error(400, "Error validating client secret.", code=1)
        if form.get("grant_type") == "fb_exchange_token":
            grant = self.user_token(str(form.get("fb_exchange_token") or ""))
            if grant is None:
                return graph_error(
                    400,
                    "Error validating access token: Session has expired on Friday, "
                    "01-May-26 10:00:00 PDT.",
                    code=190,
                    subcode=463,
                )
            token = f"EAAGlong-{secrets.token_hex(8)}-secret"
            self.long_lived[token] = grant
            return JSONResponse(
                {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}
            )
        issued = self.codes.pop(str(form.get("code") or ""), None)
        if issued is None:
            return graph_error(
                400, "This authorization code has been used.", code=100, subcode=36009
            )
        if form.get("redirect_uri") != issued["redirect_uri"]:
            return graph_error(
                400,
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request",
                code=100,
                subcode=36008,
            )
        token = f"EAAGshort-{secrets.token_hex(8)}-secret"
        self.short_lived[token] = issued["grant"]
        return JSONResponse(
            {"access_token": token, "token_type": "bearer", "expires_in": SHORT_LIVED_SECONDS}
        )

    def reset(self) -> None:
        self.codes.clear()
        self.short_lived.clear()
        self.long_lived.clear()
        self.token_forms.clear()
