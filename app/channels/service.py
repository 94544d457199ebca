"""Channels: the rules and the queries.

Credentials are sealed with :class:`app.crypto.CredentialBox` the moment they
arrive and opened only to hand them to an adapter (or to name their fields):
no response, log line, audit event or error message carries a value.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.channels.schemas import ChannelCreate, ChannelRead, ChannelUpdate
from app.crypto import CredentialBox, CredentialsUnreadable
from app.deliveries.overdue import park_overdue
from app.errors import Conflict, Invalid, NotFound
from app.logging import redact_text
from app.models import Channel, ChannelStatus, Delivery, User, utcnow
from app.net.outbound import OutboundError
from app.networks import AdapterContext, NetworkUnavailable, get_adapter
from app.networks.base import AccountInfo, CredentialsExpiredError, NetworkError

TARGET = "channel"
# Credential fields whose values are scrubbed from the messages we store.
_SECRET_NAMES = re.compile(
    r"(password|passphrase|secret|token|jwt|key|auth|credential|session|cookie|sig|url|webhook)",
    re.I,
)
_SCRUB_MIN_LENGTH = 4


# -- reading ----------------------------------------------------------------------


def credential_fields(channel: Channel, box: CredentialBox) -> tuple[list[str], bool]:
    """The names of the channel's credential fields, and whether they can be read."""
    if channel.credentials_encrypted is None:
        return [], True
    try:
        return sorted(box.open(channel.credentials_encrypted)), True
    except CredentialsUnreadable:
        return [], False


def to_read(channel: Channel, box: CredentialBox) -> ChannelRead:
    names, readable = credential_fields(channel, box)
    return ChannelRead(
        id=channel.id,
        workspace_id=channel.workspace_id,
        network=channel.network,
        name=channel.name,
        status=channel.status,
        status_message=channel.status_message,
        account_handle=channel.account_handle,
        limits=channel.limits or {},
        verified_at=channel.verified_at,
        paused=channel.paused,
        paused_reason=channel.paused_reason,
        rate_limited_until=channel.rate_limited_until,
        credentials_set=names,
        credentials_readable=readable,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


async def list_channels(db: AsyncSession, workspace_id: uuid.UUID) -> list[Channel]:
    query = (
        select(Channel)
        .where(Channel.workspace_id == workspace_id)
        .order_by(Channel.name, Channel.created_at)
    )
    return list((await db.scalars(query)).all())


# -- writing ----------------------------------------------------------------------


async def create_channel(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    data: ChannelCreate,
    box: CredentialBox,
    actor: User,
    request: Request | None = None,
) -> Channel:
    channel = Channel(
        workspace_id=workspace_id,
        network=data.network,
        name=data.name,
        credentials_encrypted=box.seal(data.credentials),
        limits={},
    )
    db.add(channel)
    await db.flush()
    await record(
        db,
        action="channel.created",
        actor=actor,
        request=request,
        workspace_id=workspace_id,
        target_type=TARGET,
        target_id=channel.id,
        data={
            "network": data.network.value,
            "name": data.name,
            "credentials_set": sorted(data.credentials),
        },
    )
    return channel


async def update_channel(
    db: AsyncSession,
    channel: Channel,
    *,
    data: ChannelUpdate,
    box: CredentialBox,
    actor: User,
    request: Request | None = None,
) -> Channel:
    audit = {"actor": actor, "request": request, "workspace_id": channel.workspace_id}
    if data.name is not None and data.name != channel.name:
        before, channel.name = channel.name, data.name
        await record(
            db,
            action="channel.renamed",
            target_type=TARGET,
            target_id=channel.id,
            data={"from": before, "to": data.name},
            **audit,
        )
    if data.credentials is not None:
        # New credentials replace the old ones; the account they name is unknown
        # until the channel is verified again.
        channel.credentials_encrypted = box.seal(data.credentials)
        channel.account_handle = None
        channel.verified_at = None
        channel.status_message = None
        await record(
            db,
            action="channel.credentials_changed",
            target_type=TARGET,
            target_id=channel.id,
            # The field names only, never a value.
            data={"credentials_set": sorted(data.credentials)},
            **audit,
        )
    await db.flush()
    return channel


async def delete_channel(
    db: AsyncSession, channel: Channel, *, actor: User, request: Request | None = None
) -> None:
    deliveries = await db.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.channel_id == channel.id)
    )
    if deliveries:
        raise _has_history(deliveries)
    await record(
        db,
        action="channel.deleted",
        actor=actor,
        request=request,
        workspace_id=channel.workspace_id,
        target_type=TARGET,
        target_id=channel.id,
        data={"network": channel.network.value, "name": channel.name},
    )
    await db.delete(channel)
    try:
        await db.flush()
    except IntegrityError:
        # A delivery arrived since the count: the foreign key refused, as it should.
        raise _has_history(None) from None


def _has_history(deliveries: int | None) -> Conflict:
    what = f"{deliveries} deliveries" if deliveries else "deliveries"
    return Conflict(
        f"This channel has {what} (scheduled or published posts), so it cannot be "
        "deleted without losing their history; pause it instead."
    )


async def pause_channel(
    db: AsyncSession,
    channel: Channel,
    *,
    reason: str | None,
    actor: User,
    request: Request | None = None,
) -> Channel:
    """Nothing is sent to a paused channel; its deliveries wait (see DESIGN.md)."""
    reason = reason or None
    if channel.paused:
        if reason is not None:
            channel.paused_reason = reason
            await db.flush()
        return channel
    channel.paused = True
    channel.paused_reason = reason
    channel.paused_at = utcnow()
    channel.paused_by_id = actor.id
    await db.flush()
    await record(
        db,
        action="channel.paused",
        actor=actor,
        request=request,
        workspace_id=channel.workspace_id,
        target_type=TARGET,
        target_id=channel.id,
        data={"reason": reason},
    )
    return channel


async def resume_channel(
    db: AsyncSession, channel: Channel, *, actor: User, request: Request | None = None
) -> Channel:
    if not channel.paused:
        return channel
    data: dict[str, object] = {
        "reason": channel.paused_reason,
        "paused_at": channel.paused_at.isoformat() if channel.paused_at else None,
        "paused_by_id": str(channel.paused_by_id) if channel.paused_by_id else None,
    }
    channel.paused = False
    channel.paused_reason = None
    channel.paused_at = None
    channel.paused_by_id = None
    await db.flush()
    # No burst: what is past its time now waits for a decision per post (GET .../overdue).
    data["overdue"] = await park_overdue(
        db, workspace_id=channel.workspace_id, channel_id=channel.id
    )
    await record(
        db,
        action="channel.resumed",
        actor=actor,
        request=request,
        workspace_id=channel.workspace_id,
        target_type=TARGET,
        target_id=channel.id,
        data=data,
    )
    return channel


# -- verify -------------------------------------------------------------------------


def _network_label(channel: Channel) -> str:
    return channel.network.value


def without_secrets(message: str, credentials: dict[str, Any]) -> str:
    """A network's message made safe to store and show: no URL secret, no secret
    credential value echoed back (some platforms quote the token they refused)."""
    text = redact_text(message)
    for value in sorted(_secret_values(credentials), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return text[:1000]


def _secret_values(value: Any, *, secret: bool = False) -> set[str]:
    """The string values found under a secret-sounding field name (``access_token``,
    ``webhook_url``, ``app_password``), however deep."""
    if isinstance(value, str):
        return {value} if secret and len(value) >= _SCRUB_MIN_LENGTH else set()
    if isinstance(value, dict):
        return {
            found
            for key, item in value.items()
            for found in _secret_values(item, secret=secret or bool(_SECRET_NAMES.search(str(key))))
        }
    if isinstance(value, list | tuple):
        return {found for item in value for found in _secret_values(item, secret=secret)}
    return set()


async def verify_channel(
    db: AsyncSession,
    channel: Channel,
    *,
    box: CredentialBox,
    adapters: AdapterContext,
    actor: User,
    request: Request | None = None,
) -> Channel:
    """Ask the network's adapter whether the credentials work, and record the answer
    on the channel: connected (with the account and its limits), expired or error."""
    try:
        adapter = get_adapter(channel.network, adapters)
    except NetworkUnavailable:
        label = _network_label(channel)
        raise Invalid(
            f"Publishing to {label} is not available yet, so this channel cannot be "
            "verified; it stays saved.",
            errors=[
                {
                    "field": "network",
                    "network": channel.network.value,
                    "message": f"publishing to {label} is not available yet",
                }
            ],
        ) from None
    try:
        token = channel.credentials_encrypted
        credentials = box.open(token) if token is not None else {}
    except CredentialsUnreadable:
        return await _record_outcome(
            db,
            channel,
            status=ChannelStatus.error,
            message="The stored credentials cannot be decrypted with the configured "
            "encryption keys; enter them again.",
            actor=actor,
            request=request,
        )

    channel_id = channel.id
    # A network call may take seconds: end this request's transaction first, so it
    # holds no lock meanwhile (on SQLite, a write transaction holds the write lock).
    # Nothing has been written in it; the answer is recorded in a new one.
    await db.commit()

    outcome: AccountInfo | tuple[ChannelStatus, str]
    try:
        outcome = await adapter.verify(credentials)
    except CredentialsExpiredError as exc:
        outcome = (ChannelStatus.expired, without_secrets(exc.message, credentials))
    except (NetworkError, OutboundError) as exc:
        outcome = (ChannelStatus.error, without_secrets(exc.message, credentials))
    except httpx.HTTPError as exc:
        # An adapter that let a transport error through; its text holds the URL.
        outcome = (
            ChannelStatus.error,
            f"Could not reach {_network_label(channel)} ({type(exc).__name__}).",
        )

    found = await db.get(Channel, channel_id, populate_existing=True)
    if found is None:
        raise NotFound("No such channel (it was deleted meanwhile).")
    if isinstance(outcome, tuple):
        status, message = outcome
        return await _record_outcome(
            db, found, status=status, message=message, actor=actor, request=request
        )
    found.account_handle = outcome.handle[:255]
    found.limits = dict(outcome.limits)
    found.verified_at = utcnow()
    if outcome.refreshed_credentials is not None:
        found.credentials_encrypted = box.seal(outcome.refreshed_credentials)
    return await _record_outcome(
        db, found, status=ChannelStatus.connected, message=None, actor=actor, request=request
    )


async def _record_outcome(
    db: AsyncSession,
    channel: Channel,
    *,
    status: ChannelStatus,
    message: str | None,
    actor: User,
    request: Request | None,
) -> Channel:
    channel.status = status
    channel.status_message = message
    await db.flush()
    await record(
        db,
        action="channel.verified",
        actor=actor,
        request=request,
        workspace_id=channel.workspace_id,
        target_type=TARGET,
        target_id=channel.id,
        data={"status": status.value, "account_handle": channel.account_handle},
    )
    return channel
