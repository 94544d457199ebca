"""A Facebook Page (Graph API v25.0, Page access token) played on 127.0.0.1: feed
posts with ``message``/``link``, photos (multipart ``source``; ``published=false`` for
the unpublished photos a multi-photo post attaches with ``attached_media``), DELETE,
the Page node, reaction/comment/share summaries.

Sources: developers.facebook.com/documentation/pages-api/posts (``/feed`` fields,
``{"id": "<page_post_id>"}``, ``attached_media=[{media_fbid}]``), Graph "Page Photos"
reference (``{"id", "post_id"}``), /docs/graph-api/guides/error-handling (the error
object; 190/463), /docs/graph-api/overview/rate-limiting (80001, BUC type ``pages``).

It also plays Facebook Login for "Connect with Facebook/Instagram": the login dialog
(``/v25.0/dialog/oauth``, served by www.facebook.com in reality) that sends the browser
back with a code, Meta's token endpoint (:class:`MetaTokens`), ``/me/accounts`` (Graph
"User Accounts" reference: each Page with its ``access_token`` and, when asked,
``instagram_business_account{id,username}``; cursor paging whose ``next`` URL carries
the token, as Meta's does) and the linked Instagram account's node.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.networks.base import Network
from app.networks.facebook import FacebookAdapter
from tests.contract.harness import ContractCase, Fault, PublishedPost
from tests.contract.platforms._graph import (
    META_APP_ID,
    GraphPlatform,
    MetaTokens,
    Upload,
    form_of,
    graph_error,
    new_id,
)

TOKEN = "EAAGpage-access-token-secret"
PAGE_ID = "104857600123456"
SECOND_PAGE_ID = "104857600654321"
SECOND_TOKEN = "EAAGsecond-page-token-secret"
IG_USER_ID = "17841405822304914"
IG_USERNAME = "almanac.coffee"
PAGES = {
    PAGE_ID: {"name": "Almanac Coffee", "username": "almanaccoffee", "token": TOKEN},
    SECOND_PAGE_ID: {
        "name": "Almanac Roastery",
        "username": "almanacroastery",
        "token": SECOND_TOKEN,
    },
}


class FacebookPlatform(GraphPlatform):
    version = "v25.0"
    token = TOKEN
    account_id = PAGE_ID
    throttle_code = 80001
    throttle_type = "pages"
    validation_message = "The message is longer than 63206 characters."

    def __init__(self) -> None:
        super().__init__()
        self.photos: dict[str, dict[str, Any]] = {}  # photo id -> {alt, published, bytes}
        self._post_numbers = itertools.count(1)
        self.fail_feed_once = False  # the next /feed call answers a 500
        # Facebook Login: the Pages the person picks in the dialog (and which of them
        # has the Instagram account linked), what the dialog was asked, and the tokens.
        self.login = MetaTokens()
        self.granted_pages: list[str] = [PAGE_ID, SECOND_PAGE_ID]
        self.instagram_linked_to: str | None = PAGE_ID
        self.dialogs: list[dict[str, str]] = []
        self.accounts_page_size = 1  # /me/accounts entries per answer: makes adapters page
        self.accounts_tokens: list[str] = []  # the token each /me/accounts call carried

        @self.app.get("/{version}/dialog/oauth")
        async def dialog(version: str, request: Request) -> Response:
            query = dict(request.query_params)
            self.dialogs.append(query)
            if query.get("client_id") != META_APP_ID or not query.get("redirect_uri"):
                return Response("Invalid App ID", status_code=400)
            redirect = query["redirect_uri"]
            if query.get("response_type", "code") != "code":
                return Response("Unsupported response_type", status_code=400)
            code = self.login.issue_code(redirect, list(self.granted_pages))
            state = query.get("state", "")
            # Facebook appends "#_=_" to the redirect.
            return RedirectResponse(f"{redirect}?code={code}&state={state}#_=_", status_code=302)

        @self.app.post("/{version}/oauth/access_token")
        async def access_token(version: str, request: Request) -> Response:
            if version != self.version:
                return graph_error(400, f"Unknown path components: /{version}", code=2500)
            return self.login.answer(await form_of(request))

        @self.app.get("/{version}/me/accounts")
        async def accounts(version: str, request: Request) -> Response:
            token = self.token_of(request)
            granted = self.login.user_token(token)
            if granted is None:
                return graph_error(
                    400, "Invalid OAuth access token - Cannot parse access token", code=190
                )
            self.accounts_tokens.append(str(token))
            fields = request.query_params.get("fields", "id,name")
            start = int(request.query_params.get("after") or 0)
            chosen = granted[start : start + self.accounts_page_size]
            data = [self._account_entry(page_id, fields) for page_id in chosen]
            body: dict[str, Any] = {"data": data}
            if start + len(chosen) < len(granted):
                after = str(start + len(chosen))
                body["paging"] = {
                    "cursors": {"before": str(start), "after": after},
                    "next": f"{self.url}/{version}/me/accounts?access_token={token}&after={after}",
                }
            return JSONResponse(body)

        @self.app.get("/{version}/{object_id}")
        async def read(version: str, object_id: str, request: Request) -> Response:
            if (refused := self._refuse(version, request)) is not None:
                return refused
            fields = request.query_params.get("fields", "id")
            wanted = set(fields.split(",")) | {"id"}
            if object_id in PAGES:
                info = PAGES[object_id]
                page = {
                    "id": object_id,
                    "name": info["name"],
                    "username": info["username"],
                    "link": f"https://www.facebook.com/{info['username']}",
                }
                return JSONResponse({k: v for k, v in page.items() if k in wanted})
            if object_id == IG_USER_ID and self.instagram_linked_to is not None:
                account = {"id": IG_USER_ID, "username": IG_USERNAME, "name": "Almanac Coffee"}
                return JSONResponse({k: v for k, v in account.items() if k in wanted})
            post = self.posts.get(object_id)
            if post is None or post.deleted:
                return self.unknown(object_id)
            body: dict[str, Any] = {"id": object_id}
            if "reactions.summary(total_count)" in fields:
                body["reactions"] = {"data": [], "summary": {"total_count": 12}}
            if "comments.summary(total_count)" in fields:
                body["comments"] = {
                    "data": [],
                    "summary": {"order": "ranked", "total_count": 4, "can_comment": True},
                }
            # ``shares`` is absent until someone shares the post.
            if ",shares" in fields and post.extra.get("shares"):
                body["shares"] = {"count": post.extra["shares"]}
            return JSONResponse(body)

        @self.app.delete("/{version}/{object_id}")
        async def delete(version: str, object_id: str, request: Request) -> Response:
            if (refused := self._refuse(version, request)) is not None:
                return refused
            post = self.posts.get(object_id)
            if post is None or post.deleted:
                return self.unknown(object_id)
            post.deleted = True
            return JSONResponse({"success": True})

        @self.app.post("/{version}/{object_id}/{edge}")
        async def write(version: str, object_id: str, edge: str, request: Request) -> Response:
            form = await form_of(request)
            if (refused := self._refuse(version, request, form)) is not None:
                return refused
            if object_id != PAGE_ID or edge not in ("feed", "photos"):
                return self.unknown(f"{object_id}/{edge}")
            fault = await self.fault_for_publish()
            if fault is not None and fault is not Fault.timeout:
                answer = self.fault_response(fault)
                assert answer is not None
                return answer
            if edge == "photos":
                return await self.photo(form)
            if self.fail_feed_once:
                self.fail_feed_once = False
                return self.fault_response(Fault.server_error)
            return self.feed(form)

    def _account_entry(self, page_id: str, fields: str) -> dict[str, Any]:
        info = PAGES[page_id]
        entry: dict[str, Any] = {
            "id": page_id,
            "name": info["name"],
            "access_token": info["token"],
            "category": "Coffee Shop",
            "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"],
        }
        if "instagram_business_account" in fields and self.instagram_linked_to == page_id:
            entry["instagram_business_account"] = {"id": IG_USER_ID, "username": IG_USERNAME}
        wanted = {f.split("{")[0] for f in fields.split(",")} | {"id"}
        return {k: v for k, v in entry.items() if k in wanted}

    def auth_error(self, request: Request, form: dict[str, Any] | None = None) -> Response | None:
        """Page tokens of every Page, and the user tokens Facebook Login issued."""
        token = self.token_of(request, form)
        if token is not None and (
            token in (info["token"] for info in PAGES.values())
            or self.login.user_token(token) is not None
        ):
            return None
        return super().auth_error(request, form)

    def _new_post(self, text: str, media: list[dict[str, Any]], **extra: Any) -> str:
        post_id = f"{PAGE_ID}_{next(self._post_numbers)}{new_id()[-6:]}"
        self.posts[post_id] = PublishedPost(text=text, media=media, extra=extra)
        return post_id

    async def photo(self, form: dict[str, Any]) -> Response:
        source = form.get("source")
        if not isinstance(source, Upload) or not source.data:
            return graph_error(
                400,
                "(#324) Requires upload file",
                code=324,
                user_msg="Missing or invalid image file",
            )
        data = source.data
        photo_id = new_id()
        published = str(form.get("published", "true")).lower() != "false"
        self.photos[photo_id] = {
            "alt": str(form.get("alt_text_custom") or ""),
            "bytes": len(data),
            "published": published,
            "attached": False,
        }
        if not published:
            return JSONResponse({"id": photo_id})
        media = [{"alt": self.photos[photo_id]["alt"], "photo_id": photo_id}]
        post_id = self._new_post(str(form.get("caption") or ""), media)
        return JSONResponse({"id": photo_id, "post_id": post_id})

    def feed(self, form: dict[str, Any]) -> Response:
        message = str(form.get("message") or "")
        link = form.get("link")
        media: list[dict[str, Any]] = []
        attached = sorted(
            (key for key in form if key.startswith("attached_media[")),
            key=lambda key: int(key[len("attached_media[") : -1]),
        )
        for key in attached:
            try:
                photo_id = str(json.loads(str(form[key]))["media_fbid"])
            except (ValueError, KeyError, TypeError):
                return graph_error(400, "(#100) param attached_media must be an array.", code=100)
            photo = self.photos.get(photo_id)
            if photo is None or photo["published"] or photo["attached"]:
                return graph_error(
                    400,
                    f"(#100) Invalid media_fbid {photo_id}: the photo must be unpublished and "
                    "not yet attached",
                    code=100,
                )
            media.append({"alt": photo["alt"], "photo_id": photo_id})
        if not message and not link and not media:
            return graph_error(
                400, "(#100) Missing message or attachment", code=100, type_="OAuthException"
            )
        for item in media:
            self.photos[item["photo_id"]]["attached"] = True
        post_id = self._new_post(message, media, link=link)
        return JSONResponse({"id": post_id})

    def reset(self) -> None:
        super().reset()
        self.photos.clear()
        self.fail_feed_once = False
        self.login.reset()
        self.granted_pages = [PAGE_ID, SECOND_PAGE_ID]
        self.instagram_linked_to = PAGE_ID
        self.dialogs.clear()
        self.accounts_tokens.clear()


def make_platform() -> FacebookPlatform:
    return FacebookPlatform()


def case(platform: FacebookPlatform) -> ContractCase:
    return ContractCase(
        network=Network.facebook,
        platform=platform,
        make_adapter=lambda http: FacebookAdapter(http, api_base=platform.url),
        credentials={"page_id": PAGE_ID, "page_access_token": TOKEN},
        secrets=[TOKEN],
        handle="almanaccoffee",
        link="https://almanac.example/menu",
    )
