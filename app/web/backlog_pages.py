"""The idea backlog: the workspace's posts without a date, newest first.

DESIGN: "keep undated ideas in a backlog". A post leaves it when it gets a date in
the editor (and lands on the calendar); "New idea" opens the editor without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.channels import service as channel_service
from app.deps import SessionDep
from app.posts import service as post_service
from app.web.calendar_pages import NETWORK_NAMES, STATUS_NAMES
from app.web.display import iso, when
from app.web.workspace_frame import render_workspace

router = APIRouter()

PageReader = Annotated[Member, Depends(Authorize(Action.posts_read, page=True))]
PAGE_SIZE = 100
# Far beyond any backlog, well inside the database's integers.
MAX_OFFSET = 1_000_000_000


@dataclass(frozen=True)
class Idea:
    id: str
    title: str
    status: str
    status_name: str
    added: str
    added_iso: str
    networks: list[str]
    channel_names: str


@router.get("/w/{workspace_id}/backlog", response_class=HTMLResponse)
async def backlog_page(
    request: Request,
    member: PageReader,
    db: SessionDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Undated posts (ideas), newest first, :data:`PAGE_SIZE` at a time."""
    ws = member.workspace
    posts, total = await post_service.list_posts(
        db,
        ws.id,
        start=None,
        end=None,
        status=None,
        channel_id=None,
        label_id=None,
        plan_id=None,
        undated=True,
        limit=PAGE_SIZE,
        offset=offset,
    )
    channels = {c.id: c for c in await channel_service.list_channels(db, ws.id)}
    ideas = []
    for post in posts:
        chosen = sorted(
            (channels[v.channel_id] for v in post.variants if v.channel_id in channels),
            key=lambda c: (c.name, str(c.id)),
        )
        ideas.append(
            Idea(
                id=str(post.id),
                title=post.title,
                status=post.status.value,
                status_name=STATUS_NAMES.get(post.status.value, post.status.value),
                added=when(post.created_at, ws.timezone),
                added_iso=iso(post.created_at),
                networks=sorted({c.network for c in chosen}),
                channel_names=", ".join(
                    f"{c.name} ({NETWORK_NAMES.get(c.network, c.network)})" for c in chosen
                ),
            )
        )
    base = f"/w/{ws.id}/backlog"
    context = {
        "ideas": ideas,
        "total": total,
        "first": offset + 1,
        "last": offset + len(ideas),
        "newer_url": f"{base}?offset={max(offset - PAGE_SIZE, 0)}" if offset else None,
        "older_url": f"{base}?offset={offset + PAGE_SIZE}" if offset + PAGE_SIZE < total else None,
        "new_idea_url": f"/w/{ws.id}/posts/new",
    }
    return await render_workspace(request, db, member, "backlog.html", context)
