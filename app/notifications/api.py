"""Notification and webhook routes.

Notifications (``notifications.read``, every member): each caller sees and marks
only their own. Webhook endpoints (``webhooks.manage``, admins and owners): the
signing secret is returned once, by create and by rotate-secret; the URL (which may
carry the receiver's own secret) only masked, as scheme and host.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.auth.deps import Authorize, Member, in_workspace
from app.auth.policy import Action
from app.crypto import CredentialBox
from app.deps import SessionDep
from app.errors import Invalid
from app.models import Notification, WebhookDelivery, WebhookEndpoint
from app.notifications import service
from app.notifications.schemas import (
    MarkedRead,
    MarkRead,
    NotificationList,
    NotificationRead,
    UnreadCount,
    WebhookAttempt,
    WebhookCreate,
    WebhookDeliveryRead,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)

router = APIRouter(prefix="/workspaces/{workspace_id}/notifications", tags=["notifications"])
webhooks_router = APIRouter(prefix="/workspaces/{workspace_id}/webhooks", tags=["webhooks"])

Reader = Annotated[Member, Depends(Authorize(Action.notifications_read))]
Manager = Annotated[Member, Depends(Authorize(Action.webhooks_manage))]


def credential_box(request: Request) -> CredentialBox:
    return CredentialBox(request.app.state.settings.encryption_keys)


Box = Annotated[CredentialBox, Depends(credential_box)]


async def _endpoint(webhook_id: uuid.UUID, member: Manager, db: SessionDep) -> WebhookEndpoint:
    return await in_workspace(db, WebhookEndpoint, webhook_id, member, "webhook")


Endpoint = Annotated[WebhookEndpoint, Depends(_endpoint)]


def _notification(row: Notification) -> NotificationRead:
    return NotificationRead(
        id=row.id,
        event_id=row.event_id,
        event=row.event,
        text=row.text,
        actor_id=row.actor_id,
        post_id=row.post_id,
        delivery_id=row.delivery_id,
        channel_id=row.channel_id,
        data=row.data or {},
        created_at=row.created_at,
        read_at=row.read_at,
        read=row.read_at is not None,
    )


def _webhook(endpoint: WebhookEndpoint, box: CredentialBox) -> WebhookRead:
    return WebhookRead(
        id=endpoint.id,
        workspace_id=endpoint.workspace_id,
        url=service.masked_url(endpoint, box),
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        enabled=endpoint.enabled,
        secret_readable=service.secret_readable(endpoint, box),
        secret_rotated_at=endpoint.secret_rotated_at,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _delivery(row: WebhookDelivery) -> WebhookDeliveryRead:
    return WebhookDeliveryRead(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status.value in ("pending", "sending") else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
        attempt_log=[WebhookAttempt.model_validate(item) for item in row.attempt_log or []],
    )


# -- notifications ----------------------------------------------------------------------


@router.get("", response_model=NotificationList)
async def list_notifications(
    member: Reader,
    db: SessionDep,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> NotificationList:
    """Your notifications in this workspace, newest first, with your unread count."""
    page = await service.list_notifications(
        db, member.workspace.id, member.user.id, unread_only=unread_only, limit=limit, offset=offset
    )
    return NotificationList(
        items=[_notification(row) for row in page.items],
        total=page.total,
        unread=page.unread,
        limit=limit,
        offset=offset,
    )


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(member: Reader, db: SessionDep) -> UnreadCount:
    """How many of your notifications in this workspace are unread."""
    return UnreadCount(unread=await service.unread_count(db, member.workspace.id, member.user.id))


@router.post("/read", response_model=MarkedRead)
async def mark_read(data: MarkRead, member: Reader, db: SessionDep) -> MarkedRead:
    """Mark some of your notifications (``ids``) or all of them (``all: true``) as read."""
    if data.all == (data.ids is not None):
        raise Invalid("Send either the ids of the notifications to mark read, or all: true.")
    marked = await service.mark_read(
        db, member.workspace.id, member.user.id, ids=None if data.all else data.ids
    )
    return MarkedRead(
        marked=marked, unread=await service.unread_count(db, member.workspace.id, member.user.id)
    )


# -- webhook endpoints ----------------------------------------------------------------------


@webhooks_router.get("", response_model=list[WebhookRead])
async def list_webhooks(member: Manager, db: SessionDep, box: Box) -> list[WebhookRead]:
    """The workspace's webhook endpoints (never their secrets)."""
    return [
        _webhook(endpoint, box)
        for endpoint in await service.list_endpoints(db, member.workspace.id)
    ]


@webhooks_router.post("", response_model=WebhookSecret, status_code=status.HTTP_201_CREATED)
async def create_webhook(
    data: WebhookCreate, member: Manager, db: SessionDep, box: Box, request: Request
) -> WebhookSecret:
    """Add an endpoint. The answer carries its signing secret: the only time it is shown."""
    endpoint, secret = await service.create_endpoint(
        db,
        workspace_id=member.workspace.id,
        url=data.url,
        event_types=None if data.event_types is None else [e.value for e in data.event_types],
        enabled=data.enabled,
        description=data.description,
        box=box,
        actor=member.user,
        request=request,
    )
    return WebhookSecret(**_webhook(endpoint, box).model_dump(), secret=secret)


@webhooks_router.get("/{webhook_id}", response_model=WebhookRead)
async def read_webhook(member: Manager, endpoint: Endpoint, box: Box) -> WebhookRead:
    """One endpoint (without its secret)."""
    return _webhook(endpoint, box)


@webhooks_router.patch("/{webhook_id}", response_model=WebhookRead)
async def update_webhook(
    data: WebhookUpdate,
    member: Manager,
    endpoint: Endpoint,
    db: SessionDep,
    box: Box,
    request: Request,
) -> WebhookRead:
    """Change the URL, the event types, the description, or turn it on or off."""
    changes = data.model_dump(exclude_unset=True)
    if changes.get("event_types") is not None:
        changes["event_types"] = [event.value for event in data.event_types or []]
    endpoint = await service.update_endpoint(
        db, endpoint, changes=changes, box=box, actor=member.user, request=request
    )
    return _webhook(endpoint, box)


@webhooks_router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    member: Manager, endpoint: Endpoint, db: SessionDep, request: Request
) -> Response:
    """Delete an endpoint and its delivery history."""
    await service.delete_endpoint(db, endpoint, actor=member.user, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@webhooks_router.post("/{webhook_id}/rotate-secret", response_model=WebhookSecret)
async def rotate_webhook_secret(
    member: Manager, endpoint: Endpoint, db: SessionDep, box: Box, request: Request
) -> WebhookSecret:
    """A new signing secret, shown this once; every request from now on uses it."""
    secret = await service.rotate_secret(db, endpoint, box=box, actor=member.user, request=request)
    return WebhookSecret(**_webhook(endpoint, box).model_dump(), secret=secret)


@webhooks_router.get("/{webhook_id}/deliveries", response_model=list[WebhookDeliveryRead])
async def list_webhook_deliveries(
    member: Manager,
    endpoint: Endpoint,
    db: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[WebhookDeliveryRead]:
    """Recent events sent (or being sent) to this endpoint, newest first: each with
    its attempts, status codes, errors and next retry."""
    rows = await service.recent_deliveries(db, endpoint, limit=limit, offset=offset)
    return [_delivery(row) for row in rows]


@webhooks_router.post(
    "/{webhook_id}/test", response_model=WebhookDeliveryRead, status_code=status.HTTP_202_ACCEPTED
)
async def test_webhook(member: Manager, endpoint: Endpoint, db: SessionDep) -> WebhookDeliveryRead:
    """Queue a ``ping`` event for this endpoint; its outcome shows in its deliveries."""
    row = await service.queue_ping(db, endpoint, actor=member.user)
    await db.refresh(row)
    return _delivery(row)
