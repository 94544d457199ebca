"""The caller's notifications in a workspace (the bell of the frame links here).

Marking read goes through the JSON API (``notifications.js``); this page only lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.deps import SessionDep
from app.notifications import service
from app.web.display import iso, when
from app.web.workspace_frame import render_workspace

router = APIRouter()

PageReader = Annotated[Member, Depends(Authorize(Action.notifications_read, page=True))]
PAGE_SIZE = 50


@dataclass(frozen=True)
class NotificationView:
    id: str
    event: str
    text: str
    read: bool
    created: str
    created_iso: str
    post_url: str | None


@router.get("/w/{workspace_id}/notifications", response_class=HTMLResponse)
async def notifications_page(
    request: Request,
    member: PageReader,
    db: SessionDep,
    unread: Annotated[bool, Query()] = False,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Your notifications, newest first; ``unread=true`` keeps the unread ones."""
    ws = member.workspace
    page = await service.list_notifications(
        db, ws.id, member.user.id, unread_only=unread, limit=PAGE_SIZE, offset=offset
    )
    items = [
        NotificationView(
            id=str(row.id),
            event=row.event.value,
            text=row.text,
            read=row.read_at is not None,
            created=when(row.created_at, ws.timezone),
            created_iso=iso(row.created_at),
            post_url=f"/w/{ws.id}/posts/{row.post_id}/detail" if row.post_id else None,
        )
        for row in page.items
    ]
    base = f"/w/{ws.id}/notifications" + ("?unread=true&" if unread else "?")
    context = {
        "items": items,
        "total": page.total,
        "unread": page.unread,
        "unread_only": unread,
        "newer_url": f"{base}offset={max(offset - PAGE_SIZE, 0)}" if offset else None,
        "older_url": f"{base}offset={offset + PAGE_SIZE}"
        if offset + PAGE_SIZE < page.total
        else None,
    }
    return await render_workspace(request, db, member, "notifications.html", context)
