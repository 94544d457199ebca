"""A Facebook Page (Graph API v25.0, Page access token) played on 127.0.0.1: feed
posts with ``message``/``link``, photos (multipart ``source``; ``published=false`` for
the unpublished photos a multi-photo post attaches with ``attached_media``), DELETE,
the Page node, reaction/comment/share summaries.

Sources: developers.facebook.com/documentation/pages-api/posts (``/feed`` fields,
``{"id": "<page_post_id>"}``, ``attached_media=[{media_fbid}]``), Graph "Page Photos"
reference (``{"id", "post_id"}``), /docs/graph-api/guides/error-handling (the error
object; 190/463), /docs/graph-api/overview/rate-limiting (80001, BUC type ``pages``).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from app.networks.base import Network
from app.networks.facebook import FacebookAdapter
from tests.contract.harness import ContractCase, Fault, PublishedPost
from tests.contract.platforms._graph import GraphPlatform, Upload, form_of, graph_error, new_id

TOKEN = "EAAGpage-access-token-secret"
PAGE_ID = "104857600123456"


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

        @self.app.get("/{version}/{object_id}")
        async def read(version: str, object_id: str, request: Request) -> Response:
            if (refused := self._refuse(version, request)) is not None:
                return refused
            fields = request.query_params.get("fields", "id")
            if object_id == PAGE_ID:
                page = {
                    "id": PAGE_ID,
                    "name": "Almanac Coffee",
                    "username": "almanaccoffee",
                    "link": "https://www.facebook.com/almanaccoffee",
                }
                wanted = set(fields.split(",")) | {"id"}
                return JSONResponse({k: v for k, v in page.items() if k in wanted})
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
