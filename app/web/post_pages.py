"""A post's details: its workflow (the steps it offers as buttons), deliveries with
their attempts and actions, metrics once published, revisions with diffs and
restore, and comments.

Every action posts to the JSON API (``workspace.js`` forms, ``post.js`` for publish
now and for following a delivery as it goes out); this page only reads, through the
same services as the API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.approvals.service import may_review
from app.approvals.workflow import TRANSITIONS, Step, allowed_steps
from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.channels import service as channel_service
from app.deliveries import service as deliveries
from app.deliveries.schemas import DeliveryRead
from app.deps import SessionDep
from app.models import DeliveryStatus, Revision, utcnow
from app.posts import comments as comment_service
from app.posts import revisions as revision_service
from app.posts import service as post_service
from app.web.calendar_pages import NETWORK_NAMES, STATUS_NAMES
from app.web.display import (
    DELIVERY_PILLS,
    DELIVERY_STATUS_NAMES,
    DiffLine,
    iso,
    text_diff,
    when,
)
from app.web.workspace_frame import page_data, render_workspace
from app.workspaces import service as workspace_service

router = APIRouter()

PageReader = Annotated[Member, Depends(Authorize(Action.posts_read, page=True))]

STEP_LABELS: dict[Step, str] = {
    Step.submit: "Submit for review",
    Step.approve: "Approve",
    Step.request_changes: "Request changes",
    Step.withdraw: "Withdraw from review",
    Step.schedule: "Schedule",
    Step.unschedule: "Unschedule",
}
FIELD_WORDS: dict[str, str] = {
    "body": "base copy",
    "local_at": "time",
    "timezone": "time zone",
    "plan_id": "plan",
    "variants": "copies",
}
# The page follows its deliveries (post.js polls) while one is going out, or is due
# within this long.
FOLLOW_AHEAD = timedelta(minutes=15)


@dataclass(frozen=True)
class AttemptView:
    started: str
    outcome: str
    error: str | None
    http_status: int | None


@dataclass(frozen=True)
class DeliveryView:
    id: str
    channel: str
    network: str
    network_name: str
    status: str
    status_name: str
    pill: str
    due: str
    next_attempt: str
    awaiting_decision: bool
    published: str
    external_url: str | None
    error: str | None
    attempts: list[AttemptView]
    may_retry: bool
    uncertain: bool
    may_take_down: bool
    waits_for_approval: bool


@dataclass(frozen=True)
class SnapshotView:
    kind: str
    taken: str
    likes: int | None
    reposts: int | None
    replies: int | None
    views: int | None


@dataclass(frozen=True)
class MetricsView:
    channel: str
    network_name: str
    external_url: str | None
    snapshots: list[SnapshotView]


@dataclass(frozen=True)
class ChangeSection:
    what: str
    lines: list[DiffLine]


@dataclass(frozen=True)
class RevisionView:
    id: str
    version: int
    action: str
    author: str
    created: str
    created_iso: str
    changed: list[str]
    sections: list[ChangeSection] = field(default_factory=list)


@dataclass(frozen=True)
class CommentView:
    author: str
    body: str
    created: str
    created_iso: str


def _delivery_view(d: DeliveryRead, zone: str, approved: set[uuid.UUID]) -> DeliveryView:
    status = d.status.value
    return DeliveryView(
        id=str(d.id),
        channel=d.channel_name,
        network=d.network.value,
        network_name=NETWORK_NAMES.get(d.network.value, d.network.value),
        status=status,
        status_name=DELIVERY_STATUS_NAMES.get(status, status),
        pill=DELIVERY_PILLS.get(status, "pill-muted"),
        due=when(d.due_at, zone),
        next_attempt=when(d.next_attempt_at, zone),
        awaiting_decision=d.awaiting_decision,
        published=when(d.published_at, zone),
        external_url=d.external_url,
        error=d.last_error,
        attempts=[
            AttemptView(when(a.started_at, zone), a.outcome.value, a.error, a.http_status)
            for a in d.attempts
        ],
        may_retry=status in {s.value for s in deliveries.RETRYABLE},
        uncertain=status == "uncertain",
        may_take_down=status == "published",
        waits_for_approval=status == "pending" and d.channel_id not in approved,
    )


def _moving_soon(d: DeliveryRead, now: datetime) -> bool:
    if d.status in (DeliveryStatus.sending, DeliveryStatus.retrying):
        return True
    return (
        d.status is DeliveryStatus.pending
        and not d.awaiting_decision
        and d.due_at - now <= FOLLOW_AHEAD
    )


def _scalar(value: Any) -> str:
    return "" if value is None else str(value)


def revision_sections(
    before: dict[str, Any] | None, after: dict[str, Any], channel_names: dict[str, str]
) -> list[ChangeSection]:
    """What a revision changed, field by field, as line diffs a person reads."""
    before = before or {}
    sections: list[ChangeSection] = []

    def add(what: str, old: Any, new: Any) -> None:
        lines = text_diff(_scalar(old), _scalar(new))
        if lines:
            sections.append(ChangeSection(what, lines))

    add("Title", before.get("title"), after.get("title"))
    add("Base copy", before.get("body"), after.get("body"))
    add("Link", before.get("link"), after.get("link"))
    old_when = " ".join(filter(None, [before.get("local_at"), before.get("timezone")]))
    new_when = " ".join(filter(None, [after.get("local_at"), after.get("timezone")]))
    add("Date and time", old_when, new_when)
    old_variants = before.get("variants") or {}
    new_variants = after.get("variants") or {}
    for channel_id in sorted(set(old_variants) | set(new_variants)):
        name = channel_names.get(channel_id, "a deleted channel")
        old, new = old_variants.get(channel_id), new_variants.get(channel_id)
        if old is None and new is not None:
            copy = new.get("text")
            sections.append(
                ChangeSection(
                    f"Channel {name} added",
                    text_diff("", copy) if copy else [],
                )
            )
        elif new is None and old is not None:
            sections.append(ChangeSection(f"Channel {name} removed", []))
        elif old is not None and new is not None:
            add(f"Copy for {name}", old.get("text"), new.get("text"))
            add(f"Link for {name}", old.get("link"), new.get("link"))
    if (before.get("media") or []) != (after.get("media") or []) and before:
        sections.append(ChangeSection("Media changed", []))
    if (before.get("labels") or []) != (after.get("labels") or []) and before:
        sections.append(ChangeSection("Labels changed", []))
    if before.get("plan_id") != after.get("plan_id") and before:
        sections.append(ChangeSection("Plan changed", []))
    return sections


def _revision_view(
    revision: Revision, names: dict[str, str], channel_names: dict[str, str], zone: str
) -> RevisionView:
    return RevisionView(
        id=str(revision.id),
        version=revision.version,
        action=revision.action,
        author=names.get(str(revision.author_id), "Almanac") if revision.author_id else "Almanac",
        created=when(revision.created_at, zone),
        created_iso=iso(revision.created_at),
        changed=[FIELD_WORDS.get(name, name) for name in revision.changed or [] if name != "fold"],
        sections=revision_sections(revision.before, revision.after or {}, channel_names),
    )


@router.get("/w/{workspace_id}/posts/{post_id}/detail", response_class=HTMLResponse)
async def post_detail_page(
    post_id: uuid.UUID, request: Request, member: PageReader, db: SessionDep
) -> Response:
    """A post's workflow, deliveries, metrics, revisions and comments."""
    ws = member.workspace
    row = await post_service.get_post(db, ws.id, post_id)
    post = await post_service.to_read(db, row)
    zone = post.timezone
    names = {
        str(m.user.id): m.user.display_name for m in await workspace_service.list_members(db, ws.id)
    }
    channel_names = {str(c.id): c.name for c in await channel_service.list_channels(db, ws.id)}
    steps = [
        step
        for step in allowed_steps(post.status, approval_required=ws.approval_required)
        if member.may(TRANSITIONS[step].action)
        and (step not in (Step.approve, Step.request_changes) or may_review(member, row))
    ]
    delivery_reads = await deliveries.post_deliveries(db, ws.id, post.id)
    metrics = await deliveries.post_metrics(db, ws.id, post.id)
    approved = {v.channel_id for v in post.variants if v.approved_hash == v.content_hash}
    delivery_views = [_delivery_view(d, zone, approved) for d in delivery_reads]
    now = utcnow()
    context = {
        "post": post,
        "status_name": STATUS_NAMES.get(post.status.value, post.status.value),
        "due": when(post.due_at, zone),
        "due_iso": iso(post.due_at),
        "zone": zone,
        "author": names.get(str(post.author_id), "A former member") if post.author_id else "",
        "steps": [(step.value, STEP_LABELS[step]) for step in steps],
        "may_publish": member.may(Action.posts_publish),
        "may_write": member.may(Action.posts_write),
        "deliveries": delivery_views,
        "metrics": [
            MetricsView(
                channel=m.channel_name,
                network_name=NETWORK_NAMES.get(m.network.value, m.network.value),
                external_url=m.external_url,
                snapshots=[
                    SnapshotView(
                        s.kind.value, when(s.taken_at, zone), s.likes, s.reposts, s.replies, s.views
                    )
                    for s in m.snapshots
                ],
            )
            for m in metrics.channels
        ],
        "revisions": [
            _revision_view(r, names, channel_names, zone)
            for r in await revision_service.list_revisions(db, row)
        ],
        "comments": [
            CommentView(
                names.get(str(c.author_id), "A former member"),
                c.body,
                when(c.created_at, zone),
                iso(c.created_at),
            )
            for c in await comment_service.list_comments(db, row)
        ],
        "post_data": page_data(
            {
                "deliveries_url": f"/api/v1/workspaces/{ws.id}/posts/{post.id}/deliveries",
                "statuses": {d.id: d.status for d in delivery_views},
                "names": DELIVERY_STATUS_NAMES,
                "pills": DELIVERY_PILLS,
                "follow": any(_moving_soon(d, now) for d in delivery_reads),
            }
        ),
    }
    return await render_workspace(request, db, member, "post_detail.html", context)
