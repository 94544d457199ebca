"""Threads (graph.threads.net/v1.0) played on 127.0.0.1: TEXT, IMAGE and CAROUSEL
containers (images downloaded from a local media host), ``status`` polling,
``threads_publish``, ``permalink``, ``DELETE /{threads-media-id}``, media insights.

Sources: developers.facebook.com/docs/threads/posts (container fields,
``link_attachment``, carousels with ``is_carousel_item``), /docs/threads/troubleshooting
(``status``: IN_PROGRESS/FINISHED/PUBLISHED/ERROR/EXPIRED, ``error_message``),
/docs/threads/posts/delete-posts (``{"success": true, "deleted_id"}``),
/docs/threads/insights (``views, likes, replies, reposts, quotes``). Threads errors use
the Graph format; its throttling header is taken to be the business-use-case one
(unconfirmed).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.networks.base import MediaItem, Network
from app.networks.threads import ThreadsAdapter
from tests.contract.harness import ContractCase
from tests.contract.platforms._graph import ContainerPlatform, file_bytes, form_of, graph_error

TOKEN = "THQWJ-threads-long-lived-token-secret"
APP_ID = "9876543210987654"
APP_SECRET = "threads-app-secret-7f3a9c2e1b"


class ThreadsPlatform(ContainerPlatform):
    version = "v1.0"
    token = TOKEN
    account_id = "25810399512345678"
    username = "almanac.coffee"
    create_edge = "threads"
    publish_edge = "threads_publish"
    list_edge = "threads"
    text_field = "text"
    status_field = "status"
    error_field = "error_message"
    max_text = 500
    jpeg_only = False
    text_only_type = "TEXT"
    permalink_base = "https://www.threads.com/@almanac.coffee/post/"
    throttle_code = 4
    throttle_type = "threads"
    validation_message = "The text is longer than 500 characters."
    already_published = ("The media has already been published", 100, None)

    def __init__(self) -> None:
        super().__init__()

        # docs/threads/get-started/long-lived-tokens: no version in the path; answers
        # {"access_token", "token_type": "bearer", "expires_in"} (seconds, ~60 days).
        @self.app.get("/refresh_access_token")
        async def refresh(request: Request) -> Response:
            if request.query_params.get("grant_type") != "th_refresh_token":
                return graph_error(400, "Unsupported grant_type", code=100)
            if (refused := self.auth_error(request)) is not None:
                return refused
            token = f"THQWJ-refreshed-{secrets.token_hex(8)}-secret"
            self.extra_tokens.add(token)
            return JSONResponse(
                {"access_token": token, "token_type": "bearer", "expires_in": 5_183_944}
            )

        # The generic routes were added first; Starlette matches in order, so move the
        # refresh route ahead of "/{version}/{object_id}".
        self.app.router.routes.insert(0, self.app.router.routes.pop())

        # The Threads login (docs/threads/get-started/get-access-tokens-and-permissions):
        # threads.net/oauth/authorize sends the browser back with a code (and "#_");
        # POST /oauth/access_token trades it (app id and secret, the same redirect_uri)
        # for a short-lived token and the user_id; GET /access_token with
        # grant_type=th_exchange_token and the app secret gives the 60-day token.
        self.codes: dict[str, str] = {}  # code -> redirect_uri
        self.short_lived: set[str] = set()
        self.authorize_queries: list[dict[str, str]] = []
        self.token_forms: list[dict[str, str]] = []

        @self.app.get("/oauth/authorize")
        async def authorize(request: Request) -> Response:
            query = dict(request.query_params)
            self.authorize_queries.append(query)
            if query.get("client_id") != APP_ID or not query.get("redirect_uri"):
                return Response("Invalid client_id", status_code=400)
            code = f"AQB{secrets.token_urlsafe(24)}"
            self.codes[code] = query["redirect_uri"]
            target = f"{query['redirect_uri']}?code={code}&state={query.get('state', '')}#_"
            return RedirectResponse(target, status_code=302)

        @self.app.post("/oauth/access_token")
        async def access_token(request: Request) -> Response:
            form = await form_of(request)
            self.token_forms.append({k: str(v) for k, v in form.items()})
            if form.get("client_id") != APP_ID:
                return graph_error(400, "Error validating application.", code=101)
            if form.get("client_secret") != APP_SECRET:
                return graph_error(400, "Error validating client secret.", code=1)
            if form.get("grant_type") != "authorization_code":
                return graph_error(400, "Unsupported grant_type", code=100)
            redirect = self.codes.pop(str(form.get("code") or ""), None)
            if redirect is None:
                return graph_error(
                    400, "This authorization code has been used.", code=100, subcode=36009
                )
            if form.get("redirect_uri") != redirect:
                return graph_error(400, "Error validating verification code.", code=100)
            token = f"THQshort-{secrets.token_hex(8)}-secret"
            self.short_lived.add(token)
            return JSONResponse({"access_token": token, "user_id": int(self.account_id)})

        @self.app.get("/access_token")
        async def exchange(request: Request) -> Response:
            self.token_forms.append(dict(request.query_params))
            if request.query_params.get("grant_type") != "th_exchange_token":
                return graph_error(400, "Unsupported grant_type", code=100)
            if request.query_params.get("client_secret") != APP_SECRET:
                return graph_error(400, "Error validating client secret.", code=1)
            if self.token_of(request) not in self.short_lived:
                return graph_error(400, "Invalid OAuth access token.", code=190)
            token = f"THQWJ-long-{secrets.token_hex(8)}-secret"
            self.extra_tokens.add(token)
            return JSONResponse(
                {"access_token": token, "token_type": "bearer", "expires_in": 5_183_944}
            )

        for _ in range(3):  # ahead of the generic routes, like the refresh route
            self.app.router.routes.insert(0, self.app.router.routes.pop())

    def reset(self) -> None:
        super().reset()
        self.codes.clear()
        self.short_lived.clear()
        self.authorize_queries.clear()
        self.token_forms.clear()

    def delete_object(self, object_id: str) -> Response:
        post = self.posts.get(object_id)
        if post is None or post.deleted:
            return self.unknown(object_id)
        post.deleted = True
        return JSONResponse({"success": True, "deleted_id": object_id})

    def read_other_edge(self, object_id: str, edge: str, request: Request) -> Response:
        post = self.posts.get(object_id)
        if edge != "insights" or post is None or post.deleted:
            return self.unknown(f"{object_id}/{edge}")
        figures = {"views": 120, "likes": 9, "replies": 3, "reposts": 2, "quotes": 1, "shares": 4}
        metrics = request.query_params.get("metric", "").split(",")
        data: list[dict[str, Any]] = []
        for name in metrics:
            if name not in figures:
                return self.unknown(f"{object_id}/insights?metric={name}")
            data.append(
                {
                    "name": name,
                    "period": "lifetime",
                    "values": [{"value": figures[name]}],
                    "title": name.capitalize(),
                    "description": f"The number of {name} of your post.",
                    "id": f"{object_id}/insights/{name}/lifetime",
                }
            )
        return JSONResponse({"data": data})


def make_platform() -> ThreadsPlatform:
    return ThreadsPlatform()


def media_item(platform: ThreadsPlatform, path: str, alt: str = "A cup of coffee") -> MediaItem:
    url = platform.media_host.publish_file(file_bytes(path), "image/png")
    return MediaItem(path=path, mime_type="image/png", alt=alt, public_url=url)


def make_adapter(platform: ThreadsPlatform, http: httpx.AsyncClient) -> ThreadsAdapter:
    return ThreadsAdapter(http, api_base=platform.url, poll_interval=0.01, max_wait=5)


def case(platform: ThreadsPlatform) -> ContractCase:
    return ContractCase(
        network=Network.threads,
        platform=platform,
        make_adapter=lambda http: make_adapter(platform, http),
        credentials={"threads_user_id": platform.account_id, "access_token": TOKEN},
        secrets=[TOKEN],
        handle=platform.username,
        media_item=lambda path: media_item(platform, path),
    )
