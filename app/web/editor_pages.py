"""The post editor: a new post, or an existing one with its comments.

The page renders the post as it is; ``editor.js`` does the rest through the JSON
API: live counters from ``POST .../posts/validate`` (the server's rules are the one
source of truth for every network's unit and limit), saving with the version read
(``If-Match``), the stale-version dialog, media uploads and comments.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.channels import service as channel_service
from app.deps import SessionDep
from app.labels import service as label_service
from app.media import service as media_service
from app.models import Post
from app.plans import service as plan_service
from app.posts import comments as comment_service
from app.posts import service as post_service
from app.posts.schemas import PostRead
from app.timeutil import to_utc
from app.web.calendar_pages import NETWORK_NAMES, STATUS_NAMES, parse_day
from app.web.workspace_frame import page_data, render_workspace
from app.workspaces import service as workspace_service

router = APIRouter()

PageReader = Annotated[Member, Depends(Authorize(Action.posts_read, page=True))]
PageWriter = Annotated[Member, Depends(Authorize(Action.posts_write, page=True))]


def is_ambiguous(local: datetime, zone_name: str) -> bool:
    """Whether this wall time happens twice in the zone (the clocks going back)."""
    return to_utc(local, zone_name, 0) != to_utc(local, zone_name, 1)


@dataclass(frozen=True)
class ChannelChoice:
    id: str
    name: str
    network: str
    network_name: str
    handle: str | None
    status: str
    paused: bool


@dataclass(frozen=True)
class CommentView:
    author: str
    body: str
    created_at: str


async def _editor(
    request: Request,
    db: AsyncSession,
    member: Member,
    post: PostRead | None,
    day: date | None,
    row: Post | None = None,
) -> HTMLResponse:
    """``row``: the post as loaded (``post`` is its read model), or None for a new one."""
    ws_id = member.workspace.id
    channels = [
        ChannelChoice(
            str(c.id),
            c.name,
            c.network,
            NETWORK_NAMES.get(c.network, c.network),
            c.account_handle,
            c.status.value if hasattr(c.status, "value") else str(c.status),
            c.paused,
        )
        for c in await channel_service.list_channels(db, ws_id)
    ]
    labels = [label for label, _ in await label_service.list_labels(db, ws_id)]
    plans = await plan_service.list_plans(db, ws_id)
    names = {
        str(m.user.id): m.user.display_name for m in await workspace_service.list_members(db, ws_id)
    }
    comments: list[CommentView] = []
    media: list[dict[str, Any]] = []
    if post is not None and row is not None:
        comments = [
            CommentView(
                names.get(str(c.author_id), "A former member"),
                c.body,
                c.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            )
            for c in await comment_service.list_comments(db, row)
        ]
        ids = [item.media_id for item in post.media]
        if ids:
            found = await media_service.media_in_workspace(db, ws_id, ids)
            settings = request.app.state.settings
            for item in post.media:
                if item.media_id in found:
                    read = media_service.to_read(found[item.media_id], settings)
                    media.append(
                        {
                            "media_id": str(item.media_id),
                            "alt": item.alt,
                            "url": read.url,
                            "filename": read.filename,
                            "mime_type": read.mime_type,
                        }
                    )
    # A wall time that happens twice (clocks going back): the page asks which one.
    ambiguous = bool(post and post.local_at and is_ambiguous(post.local_at, post.timezone))
    local_date = post.local_at.date().isoformat() if post and post.local_at else ""
    local_time = post.local_at.strftime("%H:%M") if post and post.local_at else "09:00"
    if post is None and day is not None:
        local_date = day.isoformat()
    variant_channels = {str(v.channel_id): v for v in post.variants} if post else {}
    data = {
        "api": f"/api/v1/workspaces/{ws_id}",
        "base": f"/w/{ws_id}",
        "post": post.model_dump(mode="json") if post else None,
        "media": media,
        "channels": [c.__dict__ for c in channels],
        "names": names,
        "may_write": member.may(Action.posts_write),
    }
    context = {
        "post": post,
        "channels": channels,
        "variant_channels": variant_channels,
        "labels": labels,
        "plans": plans,
        "comments": comments,
        "media": media,
        "local_date": local_date,
        "local_time": local_time,
        "ambiguous": ambiguous,
        "zone_name": post.timezone if post else member.workspace.timezone,
        "status_name": STATUS_NAMES.get(post.status.value, post.status.value) if post else None,
        "editor_data": page_data(data),
        "readonly": not member.may(Action.posts_write),
    }
    return await render_workspace(request, db, member, "editor.html", context)


@router.get("/w/{workspace_id}/posts/new", response_class=HTMLResponse)
async def new_post_page(
    request: Request,
    member: PageWriter,
    db: SessionDep,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
) -> Response:
    """Write a new post (on ``date`` when given, e.g. from a day of the calendar)."""
    chosen = parse_day(day, date.today(), "date") if day else None
    return await _editor(request, db, member, None, chosen)


@router.get("/w/{workspace_id}/posts/{post_id}", response_class=HTMLResponse)
async def post_page(
    post_id: uuid.UUID, request: Request, member: PageReader, db: SessionDep
) -> Response:
    """A post in the editor, with its status and comments."""
    row = await post_service.get_post(db, member.workspace.id, post_id)
    post = await post_service.to_read(db, row)
    return await _editor(request, db, member, post, None, row)
