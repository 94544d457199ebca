"""The overdue page: after a pause, the posts that were due meanwhile wait here for a
decision each (publish now, shift by N minutes, skip) instead of going out in a
burst. The decisions post to the JSON API (``workspace.js`` forms)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.deliveries import service as deliveries
from app.deliveries.schemas import MAX_SHIFT_MINUTES
from app.deps import SessionDep
from app.models import utcnow
from app.web.calendar_pages import NETWORK_NAMES, STATUS_NAMES
from app.web.display import iso, span, when
from app.web.workspace_frame import render_workspace

router = APIRouter()

PageReader = Annotated[Member, Depends(Authorize(Action.posts_read, page=True))]


@dataclass(frozen=True)
class OverdueChannel:
    name: str
    network: str
    network_name: str
    approved: bool


@dataclass(frozen=True)
class OverdueEntry:
    post_id: str
    title: str
    status_name: str
    due: str
    due_iso: str
    late_by: str
    late_minutes: int
    channels: list[OverdueChannel]


@router.get("/w/{workspace_id}/overdue", response_class=HTMLResponse)
async def overdue_page(request: Request, member: PageReader, db: SessionDep) -> Response:
    """Posts that were due while publishing was paused, each waiting for a decision."""
    ws = member.workspace
    listing = await deliveries.overdue(db, ws)
    now = utcnow()
    entries = []
    for item in listing.items:
        late = int((now - item.due_at).total_seconds())
        entries.append(
            OverdueEntry(
                post_id=str(item.post_id),
                title=item.title,
                status_name=STATUS_NAMES.get(item.status, item.status),
                due=when(item.due_at, ws.timezone),
                due_iso=iso(item.due_at),
                late_by=span(late),
                late_minutes=max(late // 60, 0),
                channels=[
                    OverdueChannel(
                        d.channel_name,
                        d.network.value,
                        NETWORK_NAMES.get(d.network.value, d.network.value),
                        d.approved,
                    )
                    for d in item.deliveries
                ],
            )
        )
    context = {
        "entries": entries,
        "paused": listing.workspace_paused,
        "may_decide": member.may(Action.posts_publish),
        "max_shift": MAX_SHIFT_MINUTES,
    }
    return await render_workspace(request, db, member, "overdue.html", context)
