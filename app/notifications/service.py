"""Notifications: the rules and the queries.

:func:`notify` is the one entry point for every domain that has something to tell
people (the approval workflow, the publisher, channels, workspaces). One call is
one event. In the caller's transaction it writes

- one in-app :class:`Notification` per recipient: current members of the
  workspace only, never the person who caused the event;
- one :class:`WebhookDelivery` outbox row per enabled webhook endpoint of the
  workspace subscribed to the event type, with the payload frozen now.

The scheduler's notification job sends the outbox (``scheduler/notifications.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.crypto import CredentialBox, CredentialsUnreadable
from app.errors import Invalid, NotFound
from app.models import (
    PING_EVENT,
    Channel,
    Delivery,
    Event,
    Membership,
    Notification,
    Post,
    Role,
    User,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    Workspace,
    utcnow,
)
from app.net.outbound import OutboundError, check_url_shape
from app.notifications.webhooks import new_secret, open_url

__all__ = [
    "Event",
    "notify",
    "post_people",
    "workspace_people",
]

# Roles whose members may approve posts (app.auth.policy: posts.approve).
REVIEWER_ROLES = frozenset({Role.reviewer, Role.admin, Role.owner})
TARGET = "webhook_endpoint"


# -- who hears of what --------------------------------------------------------------


async def post_people(session: AsyncSession, post: Post) -> set[uuid.UUID]:
    """The post's author and the workspace's reviewers (members who may approve)."""
    rows = await session.scalars(
        select(Membership.user_id).where(
            Membership.workspace_id == post.workspace_id, Membership.role.in_(REVIEWER_ROLES)
        )
    )
    people = set(rows)
    if post.author_id is not None:
        people.add(post.author_id)
    return people


async def workspace_people(session: AsyncSession, workspace_id: uuid.UUID) -> set[uuid.UUID]:
    """Every member: pauses, resumes and expired channels concern everyone."""
    rows = await session.scalars(
        select(Membership.user_id).where(Membership.workspace_id == workspace_id)
    )
    return set(rows)


async def _members_among(
    session: AsyncSession, workspace_id: uuid.UUID, user_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(Membership.user_id).where(
            Membership.workspace_id == workspace_id, Membership.user_id.in_(user_ids)
        )
    )
    return set(rows)


# -- notify -------------------------------------------------------------------------


async def notify(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    event: Event,
    text: str,
    recipients: Iterable[uuid.UUID] = (),
    actor_id: uuid.UUID | None = None,
    post_id: uuid.UUID | None = None,
    delivery_id: uuid.UUID | None = None,
    channel_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Record one event: in-app rows for ``recipients`` (current members, minus the
    actor) and an outbox row per subscribed webhook endpoint. Flushes; the caller
    commits. Returns the event id."""
    event = Event(event)
    event_id = uuid.uuid4()
    now = utcnow()
    data = dict(data or {})
    wanted = {uuid.UUID(str(user_id)) for user_id in recipients} - {actor_id}
    for user_id in sorted(await _members_among(session, workspace_id, wanted), key=str):
        session.add(
            Notification(
                workspace_id=workspace_id,
                user_id=user_id,
                event_id=event_id,
                event=event,
                text=text,
                actor_id=actor_id,
                post_id=post_id,
                delivery_id=delivery_id,
                channel_id=channel_id,
                data=data,
                created_at=now,
            )
        )
    endpoints = [
        endpoint
        for endpoint in await _enabled_endpoints(session, workspace_id)
        if event.value in endpoint.event_types
    ]
    if endpoints:
        payload = await _payload(
            session,
            event_id=event_id,
            event_type=event.value,
            occurred_at=now,
            text=text,
            workspace_id=workspace_id,
            actor_id=actor_id,
            post_id=post_id,
            delivery_id=delivery_id,
            channel_id=channel_id,
            data=data,
        )
        for endpoint in endpoints:
            _enqueue(session, endpoint, event_id, event.value, payload, now)
    await session.flush()
    return event_id


async def _enabled_endpoints(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[WebhookEndpoint]:
    rows = await session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.enabled.is_(True)
        )
    )
    return list(rows)


def _enqueue(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    event_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
) -> WebhookDelivery:
    row = WebhookDelivery(
        workspace_id=endpoint.workspace_id,
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        status=WebhookDeliveryStatus.pending,
        attempts=0,
        next_attempt_at=now,
        attempt_log=[],
    )
    session.add(row)
    return row


def post_path(workspace_id: uuid.UUID, post_id: uuid.UUID) -> str:
    """The post's page in the web app (app/web/post_pages.py), for links in payloads."""
    return f"/w/{workspace_id}/posts/{post_id}/detail"


async def _payload(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    event_type: str,
    occurred_at: datetime,
    text: str,
    workspace_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    post_id: uuid.UUID | None,
    delivery_id: uuid.UUID | None,
    channel_id: uuid.UUID | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The webhook body, as it is now: a Slack-compatible ``text`` plus structure."""
    workspace = await session.get(Workspace, workspace_id)
    post = await session.get(Post, post_id) if post_id else None
    delivery = await session.get(Delivery, delivery_id) if delivery_id else None
    if channel_id is None and delivery is not None:
        channel_id = delivery.channel_id
    channel = await session.get(Channel, channel_id) if channel_id else None
    actor = await session.get(User, actor_id) if actor_id else None
    return {
        "id": str(event_id),
        "type": event_type,
        "occurred_at": occurred_at.isoformat(),
        "text": text,
        "workspace": {"id": str(workspace_id), "name": workspace.name if workspace else None},
        "post": None
        if post is None
        else {
            "id": str(post.id),
            "title": post.title,
            "status": post.status.value,
            "due_at": post.due_at.isoformat() if post.due_at else None,
            "path": post_path(workspace_id, post.id),
        },
        "delivery": None
        if delivery is None
        else {
            "id": str(delivery.id),
            "status": delivery.status.value,
            "due_at": delivery.due_at.isoformat(),
            "attempts": delivery.attempts,
            "external_url": delivery.external_url,
            "error": delivery.last_error,
        },
        "channel": None
        if channel is None
        else {
            "id": str(channel.id),
            "name": channel.name,
            "network": channel.network.value,
            "status": channel.status.value,
        },
        "actor": None if actor is None else {"id": str(actor.id), "name": actor.display_name},
        "data": data,
    }


# -- the in-app list ------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    total: int
    unread: int


def _mine(workspace_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Any, ...]:
    return (Notification.workspace_id == workspace_id, Notification.user_id == user_id)


async def unread_count(session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        *_mine(workspace_id, user_id), Notification.read_at.is_(None)
    )
    return int(await session.scalar(query) or 0)


async def list_notifications(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    unread_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> NotificationPage:
    """The user's notifications in the workspace, newest first."""
    where = list(_mine(workspace_id, user_id))
    if unread_only:
        where.append(Notification.read_at.is_(None))
    total = int(await session.scalar(select(func.count()).where(*where)) or 0)
    rows = await session.scalars(
        select(Notification)
        .where(*where)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return NotificationPage(
        items=list(rows), total=total, unread=await unread_count(session, workspace_id, user_id)
    )


async def mark_read(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    ids: list[uuid.UUID] | None,
) -> int:
    """Mark the given notifications (or all, when ``ids`` is None) as read. Ids of
    other people's notifications are refused as unknown: nothing changes."""
    where = [*_mine(workspace_id, user_id), Notification.read_at.is_(None)]
    if ids is not None:
        wanted = set(ids)
        found = set(
            await session.scalars(
                select(Notification.id).where(
                    *_mine(workspace_id, user_id), Notification.id.in_(wanted)
                )
            )
        )
        missing = wanted - found
        if missing:
            raise NotFound(
                f"No such notification: {', '.join(sorted(str(item) for item in missing))}."
            )
        where.append(Notification.id.in_(wanted))
    result = await session.execute(
        update(Notification)
        .where(*where)
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


# -- webhook endpoints ----------------------------------------------------------------


def check_url(url: str) -> str:
    """The rules an address must meet before it is stored (the send re-checks its
    addresses through the outbound guard)."""
    try:
        check_url_shape(url)
    except OutboundError as exc:
        raise Invalid(
            exc.message, errors=[{"field": "url", "network": None, "message": exc.message}]
        ) from None
    return url


def check_event_types(event_types: Iterable[str]) -> list[str]:
    known = {event.value for event in Event}
    chosen = list(dict.fromkeys(event_types))
    unknown = [item for item in chosen if item not in known]
    if unknown:
        message = f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
        raise Invalid(
            message, errors=[{"field": "event_types", "network": None, "message": message}]
        )
    return sorted(chosen)


async def list_endpoints(session: AsyncSession, workspace_id: uuid.UUID) -> list[WebhookEndpoint]:
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.workspace_id == workspace_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list(rows)


async def create_endpoint(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    url: str,
    event_types: Iterable[str] | None,
    enabled: bool,
    description: str,
    box: CredentialBox,
    actor: User,
    request: Request | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once, stored sealed)."""
    secret = new_secret()
    url = check_url(url)
    endpoint = WebhookEndpoint(
        workspace_id=workspace_id,
        url_encrypted=seal_url(url, box),
        host=_host(url),
        description=description,
        event_types=check_event_types(
            event_types if event_types is not None else [e.value for e in Event]
        ),
        enabled=enabled,
        secret_encrypted=box.seal({"secret": secret}),
        created_by_id=actor.id,
    )
    session.add(endpoint)
    await session.flush()
    await record(
        session,
        action="webhook.created",
        actor=actor,
        request=request,
        workspace_id=workspace_id,
        target_type=TARGET,
        target_id=endpoint.id,
        data={"host": endpoint.host, "event_types": endpoint.event_types},
    )
    return endpoint, secret


async def update_endpoint(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    changes: dict[str, Any],
    box: CredentialBox,
    actor: User,
    request: Request | None = None,
) -> WebhookEndpoint:
    """Apply ``changes``. A new URL is a credential change (the URL may carry the
    receiver's secret): sealed, and audited on its own with its host only."""
    changes = {key: value for key, value in changes.items() if value is not None}
    new_url = changes.pop("url", None)
    if new_url is not None:
        url = check_url(new_url)
        before = endpoint.host
        endpoint.url_encrypted = seal_url(url, box)
        endpoint.host = _host(url)
        await record(
            session,
            action="webhook.url_changed",
            actor=actor,
            request=request,
            workspace_id=endpoint.workspace_id,
            target_type=TARGET,
            target_id=endpoint.id,
            data={"from_host": before, "to_host": endpoint.host},
        )
    if "event_types" in changes:
        endpoint.event_types = check_event_types(changes["event_types"])
    if "enabled" in changes:
        endpoint.enabled = changes["enabled"]
    if "description" in changes:
        endpoint.description = changes["description"]
    await session.flush()
    if not changes:
        return endpoint
    await record(
        session,
        action="webhook.updated",
        actor=actor,
        request=request,
        workspace_id=endpoint.workspace_id,
        target_type=TARGET,
        target_id=endpoint.id,
        data={"fields": sorted(changes)},
    )
    return endpoint


async def rotate_secret(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    box: CredentialBox,
    actor: User,
    request: Request | None = None,
) -> str:
    """A new secret, effective for every request sent from now on (retries too)."""
    secret = new_secret()
    endpoint.secret_encrypted = box.seal({"secret": secret})
    endpoint.secret_rotated_at = utcnow()
    await session.flush()
    await record(
        session,
        action="webhook.secret_rotated",
        actor=actor,
        request=request,
        workspace_id=endpoint.workspace_id,
        target_type=TARGET,
        target_id=endpoint.id,
        data={},
    )
    return secret


async def delete_endpoint(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    actor: User,
    request: Request | None = None,
) -> None:
    await record(
        session,
        action="webhook.deleted",
        actor=actor,
        request=request,
        workspace_id=endpoint.workspace_id,
        target_type=TARGET,
        target_id=endpoint.id,
        data={"host": endpoint.host},
    )
    await session.delete(endpoint)
    await session.flush()


def seal_url(url: str, box: CredentialBox) -> bytes:
    return box.seal({"url": url})


def endpoint_url(endpoint: WebhookEndpoint, box: CredentialBox) -> str:
    """The full URL, for the sender only. Raises CredentialsUnreadable."""
    return open_url(endpoint.url_encrypted, box)


def masked_url(endpoint: WebhookEndpoint, box: CredentialBox) -> str:
    """What people see of the URL: its scheme and host, the path (which may hold the
    receiver's secret) replaced by an ellipsis."""
    try:
        shape = check_url_shape(endpoint_url(endpoint, box))
    except (CredentialsUnreadable, OutboundError):
        return f"https://{endpoint.host}/…"
    host = f"[{shape.host}]" if ":" in shape.host else shape.host
    port = "" if shape.port is None else f":{shape.port}"
    return f"{shape.scheme}://{host}{port}/…"


def endpoint_secret(endpoint: WebhookEndpoint, box: CredentialBox) -> str:
    """The signing secret, for the sender only. Raises CredentialsUnreadable."""
    return str(box.open(endpoint.secret_encrypted)["secret"])


def secret_readable(endpoint: WebhookEndpoint, box: CredentialBox) -> bool:
    try:
        endpoint_secret(endpoint, box)
    except CredentialsUnreadable:
        return False
    return True


async def queue_ping(
    session: AsyncSession, endpoint: WebhookEndpoint, *, actor: User
) -> WebhookDelivery:
    """A ``ping`` event for this endpoint only (sent even if it is disabled: testing
    an endpoint before turning it on is the point)."""
    now = utcnow()
    event_id = uuid.uuid4()
    text = f"{actor.display_name} sent a test event to this webhook."
    payload = await _payload(
        session,
        event_id=event_id,
        event_type=PING_EVENT,
        occurred_at=now,
        text=text,
        workspace_id=endpoint.workspace_id,
        actor_id=actor.id,
        post_id=None,
        delivery_id=None,
        channel_id=None,
        data={"endpoint_id": str(endpoint.id)},
    )
    row = _enqueue(session, endpoint, event_id, PING_EVENT, payload, now)
    await session.flush()
    return row


async def recent_deliveries(
    session: AsyncSession, endpoint: WebhookEndpoint, *, limit: int = 50, offset: int = 0
) -> list[WebhookDelivery]:
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows)


@dataclass(frozen=True)
class DeliverySummary:
    """An endpoint's recent history, for the settings page."""

    delivered: int
    failures: list[WebhookDelivery]


# What "recent" means on the settings page, and how many failures it lists per endpoint.
RECENT_WINDOW = timedelta(days=7)
FAILURES_SHOWN = 20


async def delivery_summaries(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: datetime | None = None
) -> dict[uuid.UUID, DeliverySummary]:
    """Per endpoint of the workspace: deliveries made within :data:`RECENT_WINDOW`
    and its latest failures (given up, or erring and still retried). Two queries for
    the whole workspace, whatever the number of endpoints."""
    since = (now or utcnow()) - RECENT_WINDOW
    # By endpoint id: the (endpoint_id, created_at) index serves both queries.
    endpoints = select(WebhookEndpoint.id).where(WebhookEndpoint.workspace_id == workspace_id)
    recent = (
        WebhookDelivery.endpoint_id.in_(endpoints),
        WebhookDelivery.created_at >= since,
    )
    delivered = dict(
        (
            await session.execute(
                select(WebhookDelivery.endpoint_id, func.count())
                .where(*recent, WebhookDelivery.status == WebhookDeliveryStatus.delivered)
                .group_by(WebhookDelivery.endpoint_id)
            )
        ).all()
    )
    failing = or_(
        WebhookDelivery.status == WebhookDeliveryStatus.failed,
        and_(
            WebhookDelivery.last_error.is_not(None),
            WebhookDelivery.status != WebhookDeliveryStatus.delivered,
        ),
    )
    failures: dict[uuid.UUID, list[WebhookDelivery]] = {}
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(*recent, failing)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    )
    for row in rows:
        shown = failures.setdefault(row.endpoint_id, [])
        if len(shown) < FAILURES_SHOWN:
            shown.append(row)
    return {
        endpoint_id: DeliverySummary(
            delivered=int(delivered.get(endpoint_id, 0)), failures=failures.get(endpoint_id, [])
        )
        for endpoint_id in set(delivered) | set(failures)
    }


def _host(url: str) -> str:
    # Audit events and logs keep the host only: some receivers put a secret in the path.
    # ``url`` has passed check_url.
    return check_url_shape(url).host
