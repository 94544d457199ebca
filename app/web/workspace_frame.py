"""The frame of a workspace's pages: its navigation, the pause banners, the crisis switch.

Every page under ``/w/{workspace_id}`` renders through :func:`render_workspace`, so
none forgets the banner that says publishing is paused (the workspace, or one of
its channels) or the switch that pauses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2.utils import htmlsafe_json_dumps
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import __version__
from app.approvals.service import count_in_review
from app.auth.deps import Member
from app.auth.policy import Action
from app.deliveries.overdue import awaiting_decision
from app.models import Channel, Delivery
from app.notifications.service import unread_count
from app.web.frame import Banner, NavItem, render


@dataclass(frozen=True)
class WorkspaceView:
    """What the workspace pages (and their scripts) need to know of the workspace."""

    id: str
    name: str
    timezone: str
    paused: bool
    paused_reason: str | None
    role: str
    may_write: bool
    may_pause: bool
    may_manage_channels: bool

    @property
    def base(self) -> str:
        return f"/w/{self.id}"

    @property
    def api(self) -> str:
        return f"/api/v1/workspaces/{self.id}"


def workspace_view(member: Member) -> WorkspaceView:
    ws = member.workspace
    return WorkspaceView(
        id=str(ws.id),
        name=ws.name,
        timezone=ws.timezone,
        paused=ws.paused,
        paused_reason=ws.paused_reason,
        role=member.role.value,
        may_write=member.may(Action.posts_write),
        may_pause=member.may(Action.workspace_pause),
        may_manage_channels=member.may(Action.channels_manage),
    )


def nav_items(view: WorkspaceView, waiting: int = 0, overdue: int = 0) -> list[NavItem]:
    """``waiting``: posts in review (the inbox badge); ``overdue``: posts waiting for a
    decision after a pause (their link shows only then)."""
    items = [
        NavItem("Calendar", f"{view.base}/calendar"),
        NavItem("Backlog", f"{view.base}/backlog"),
        NavItem("Inbox", f"{view.base}/inbox", badge=waiting or None),
        NavItem("Plans", f"{view.base}/plans"),
        NavItem("Channels", f"{view.base}/channels"),
        NavItem("Sandbox", f"{view.base}/sandbox"),
        NavItem("Settings", f"{view.base}/settings"),
    ]
    if overdue:
        items.insert(3, NavItem("Overdue", f"{view.base}/overdue", badge=overdue))
    return items


async def frame_counts(db: AsyncSession, member: Member) -> dict[str, int]:
    """The badges of the frame: unread notifications, posts in review (for those who
    review), posts waiting for an overdue decision."""
    ws_id = member.workspace.id
    overdue = await db.scalar(
        select(func.count(func.distinct(Delivery.post_id))).where(
            Delivery.workspace_id == ws_id, awaiting_decision()
        )
    )
    return {
        "unread": await unread_count(db, ws_id, member.user.id),
        "waiting": await count_in_review(db, ws_id) if member.may(Action.posts_approve) else 0,
        "overdue": int(overdue or 0),
    }


async def pause_banners(db: AsyncSession, member: Member, view: WorkspaceView) -> list[Banner]:
    """A banner while the workspace is paused, and one per paused channel."""
    banners = []
    if view.paused:
        reason = f" Reason: {view.paused_reason}" if view.paused_reason else ""
        banners.append(
            Banner(
                "danger",
                f"Publishing is paused for {view.name}: nothing goes out until it is "
                f"resumed.{reason}",
            )
        )
    paused_channels = (
        await db.scalars(
            select(Channel.name)
            .where(Channel.workspace_id == member.workspace.id, Channel.paused.is_(True))
            .order_by(Channel.name)
        )
    ).all()
    for name in paused_channels:
        banners.append(
            Banner("warning", f"Publishing to the channel {name} is paused until it is resumed.")
        )
    return banners


def page_data(value: Any) -> str:
    """JSON for a ``<script type="application/json">`` block (a data block, not a
    script: the CSP allows it). ``<``, ``>``, ``&`` and ``'`` are escaped as JSON
    unicode escapes, so no text in it can close the tag or open a comment."""
    return str(htmlsafe_json_dumps(value, dumps=json.dumps, default=str, separators=(",", ":")))


async def render_workspace(
    request: Request,
    db: AsyncSession,
    member: Member,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    view = workspace_view(member)
    counts = await frame_counts(db, member)
    full: dict[str, Any] = {
        "ws": view,
        "nav_items": nav_items(view, counts["waiting"], counts["overdue"]),
        "banners": await pause_banners(db, member, view),
        "notifications_url": f"{view.base}/notifications",
        "unread_count": counts["unread"],
        # The network icons' sprite, for every block of every page (a {% set %} in
        # workspace_base.html would not reach the child templates' blocks).
        "sprite": f"{request.url_for('static', path='networks.svg').path}?v={__version__}",
    }
    full.update(context or {})
    return await render(request, db, template, full, status_code=status_code)
