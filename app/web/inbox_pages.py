"""The review inbox: posts waiting for the caller's review, soonest due first, each
with what changed per channel since its last approval, and the approve / request
changes actions (``review.js`` posts them to the JSON API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.approvals import service as approvals
from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.deps import SessionDep
from app.models import Role
from app.web.calendar_pages import NETWORK_NAMES
from app.web.display import DiffLine, diff_lines, due_in, iso, when
from app.web.workspace_frame import render_workspace

router = APIRouter()

PageReader = Annotated[Member, Depends(Authorize(Action.posts_read, page=True))]


@dataclass(frozen=True)
class ChangeView:
    channel: str
    network: str
    network_name: str
    change: str  # new | changed | unchanged
    text: str
    diff: list[DiffLine]


@dataclass(frozen=True)
class InboxEntry:
    post_id: str
    title: str
    version: int
    due: str
    due_iso: str
    due_in: str
    overdue: bool
    approvals: int
    approvals_needed: int
    last_approved: str
    changes: list[ChangeView]


@router.get("/w/{workspace_id}/inbox", response_class=HTMLResponse)
async def inbox_page(request: Request, member: PageReader, db: SessionDep) -> Response:
    """Posts waiting for my review, soonest first, with the diff since the last approval."""
    zone = member.workspace.timezone
    entries = [
        InboxEntry(
            post_id=str(item.post.id),
            title=item.post.title,
            version=item.post.version,
            due=when(item.post.due_at, zone),
            due_iso=iso(item.post.due_at),
            due_in=due_in(item.due_in_seconds),
            overdue=item.due_in_seconds is not None and item.due_in_seconds < 0,
            approvals=item.approvals,
            approvals_needed=item.approvals_needed,
            last_approved=when(item.last_approved_at, zone),
            changes=[
                ChangeView(
                    channel=change.channel_name,
                    network=change.network,
                    network_name=NETWORK_NAMES.get(change.network, change.network),
                    change=change.change,
                    text=change.text,
                    diff=diff_lines(change.diff),
                )
                for change in item.changes
            ],
        )
        for item in await approvals.inbox(db, member)
    ]
    context = {
        "entries": entries,
        "reviews": member.may(Action.posts_approve),
        "four_eyes": not member.workspace.authors_may_self_approve,
        "role": member.role,
        "viewer": member.role is Role.viewer,
    }
    return await render_workspace(request, db, member, "inbox.html", context)
