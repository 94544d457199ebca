"""Workspace settings: the approval policy and lateness limit (admins change them),
the members (everyone reads; admins and owners change roles, remove members, invite
people and withdraw pending invitations), and the webhook endpoints (admins: add one,
its secret shown once, and each endpoint's recent delivery failures).

Writes go through the JSON API (``settings.js``); secrets and invitation links are
never rendered here (a link is shown once, by the script, from the API's answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.crypto import CredentialBox
from app.deps import SessionDep
from app.models import Event, Role, User
from app.notifications import service as notifications
from app.web.display import when
from app.web.workspace_frame import render_workspace
from app.workspaces import service as workspaces

router = APIRouter()

PageReader = Annotated[Member, Depends(Authorize(Action.workspace_read, page=True))]

EVENT_NAMES: dict[str, str] = {
    Event.submitted.value: "A post is submitted for review",
    Event.approved.value: "A post is approved",
    Event.changes_requested.value: "Changes are requested",
    Event.edited_after_approval.value: "An approved post is edited",
    Event.mentioned.value: "Someone is mentioned",
    Event.publish_failed.value: "Publishing failed",
    Event.missed.value: "A post missed its time",
    Event.uncertain.value: "A delivery needs a decision",
    Event.channel_expired.value: "A channel's credentials expired",
    Event.workspace_paused.value: "Publishing is paused",
    Event.workspace_resumed.value: "Publishing is resumed",
}


@dataclass(frozen=True)
class MemberView:
    user_id: str
    name: str
    email: str
    role: str
    joined: str
    # The viewer's own row (it offers "Leave workspace" instead of "Remove").
    is_self: bool
    # The viewer may change this member's role and remove them (only owners touch owners).
    editable: bool


@dataclass(frozen=True)
class InvitationView:
    id: str
    email: str
    role: str
    expires: str
    invited_by: str


@dataclass(frozen=True)
class FailureView:
    event_type: str
    status: str
    attempts: int
    status_code: int | None
    error: str
    at: str


@dataclass(frozen=True)
class WebhookView:
    id: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    secret_readable: bool
    delivered: int
    failures: list[FailureView]


async def _webhooks(request: Request, db: SessionDep, member: Member) -> list[WebhookView]:
    box = CredentialBox(request.app.state.settings.encryption_keys)
    zone = member.workspace.timezone
    summaries = await notifications.delivery_summaries(db, member.workspace.id)
    nothing = notifications.DeliverySummary(delivered=0, failures=[])
    views = []
    for endpoint in await notifications.list_endpoints(db, member.workspace.id):
        summary = summaries.get(endpoint.id, nothing)
        views.append(
            WebhookView(
                id=str(endpoint.id),
                url=notifications.masked_url(endpoint, box),
                description=endpoint.description,
                events=[EVENT_NAMES.get(e, e) for e in endpoint.event_types],
                enabled=endpoint.enabled,
                secret_readable=notifications.secret_readable(endpoint, box),
                delivered=summary.delivered,
                failures=[
                    FailureView(
                        event_type=row.event_type,
                        status=row.status.value,
                        attempts=row.attempts,
                        status_code=row.last_status_code,
                        error=row.last_error or "",
                        at=when(row.last_attempt_at or row.created_at, zone),
                    )
                    for row in summary.failures
                ],
            )
        )
    return views


async def _invitations(
    db: SessionDep, member: Member, names: dict[str, str]
) -> list[InvitationView]:
    """Pending invitations, newest first; ``names``: display names by user id (the
    members), the inviter looked up when they have left since."""
    zone = member.workspace.timezone
    views = []
    for invitation in await workspaces.list_invitations(db, member.workspace.id):
        inviter = ""
        if invitation.invited_by_id is not None:
            inviter = names.get(str(invitation.invited_by_id), "")
            if not inviter:
                user = await db.get(User, invitation.invited_by_id)
                inviter = user.display_name if user is not None else ""
        views.append(
            InvitationView(
                id=str(invitation.id),
                email=invitation.email,
                role=invitation.role.value,
                expires=when(invitation.expires_at, zone),
                invited_by=inviter,
            )
        )
    return views


@router.get("/w/{workspace_id}/settings", response_class=HTMLResponse)
async def settings_page(request: Request, member: PageReader, db: SessionDep) -> Response:
    """The workspace's approval policy, lateness limit, members, invitations and webhooks."""
    ws = member.workspace
    manages_members = member.may(Action.members_manage)
    is_owner = member.role == Role.owner
    members = [
        MemberView(
            user_id=str(row.user.id),
            name=row.user.display_name,
            email=row.user.email,
            role=row.membership.role.value,
            joined=when(row.membership.created_at, ws.timezone),
            is_self=row.user.id == member.user.id,
            editable=manages_members and (is_owner or row.membership.role != Role.owner),
        )
        for row in await workspaces.list_members(db, ws.id)
    ]
    names = {m.user_id: m.name for m in members}
    manages_webhooks = member.may(Action.webhooks_manage)
    context = {
        "workspace": ws,
        "may_update": member.may(Action.workspace_update),
        "members": members,
        "may_manage_members": manages_members,
        # The roles the viewer may give: owners only by owners.
        "roles": [r.value for r in Role if is_owner or r != Role.owner],
        "invitations": await _invitations(db, member, names) if manages_members else [],
        "viewer_name": member.user.display_name,
        "manages_webhooks": manages_webhooks,
        "webhooks": await _webhooks(request, db, member) if manages_webhooks else [],
        "event_names": EVENT_NAMES,
        "recent_days": notifications.RECENT_WINDOW.days,
    }
    return await render_workspace(request, db, member, "settings.html", context)
